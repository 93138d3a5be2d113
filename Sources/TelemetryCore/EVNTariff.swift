/// EVN time-of-use periods (../shared/reference/limits.md): peak Monday–Saturday 09:30–11:30
/// and 17:00–20:00; off-peak 22:00–04:00 daily; no peak on Sunday; normal otherwise.
public enum EVNTariff: String, Sendable {
    case peak, normal
    case offPeak = "off_peak"

    public static func period(at time: EventTime, utcOffsetMinutes: Int) -> EVNTariff {
        let local = time.milliseconds + Int64(utcOffsetMinutes) * 60_000
        let dayMillis = ((local % 86_400_000) + 86_400_000) % 86_400_000
        let minute = Int(dayMillis / 60_000)
        let days = Int((local - dayMillis) / 86_400_000)
        let weekday = ((days % 7) + 7 + 3) % 7  // 0 = Monday; 1970-01-01 was a Thursday
        if minute >= 22 * 60 || minute < 4 * 60 { return .offPeak }
        if weekday != 6 && ((570..<690).contains(minute) || (1020..<1200).contains(minute)) { return .peak }
        return .normal
    }
}
