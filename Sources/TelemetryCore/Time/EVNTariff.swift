/// EVN time-of-use periods (Circular 16/2014/TT-BCT, Article 4): peak Monday–Saturday 09:30–11:30
/// and 17:00–20:00; off-peak 22:00–04:00 daily; no peak on Sunday; normal otherwise.
public enum EVNTariff: String, Sendable {
    case peak, normal
    case offPeak = "off_peak"

    public static func period(at time: EventTime, utcOffsetMinutes: Int) -> EVNTariff {
        let calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        let minute = calendar.minuteOfDay(time)
        let weekday = calendar.weekday(time)
        if minute >= 22 * 60 || minute < 4 * 60 { return .offPeak }
        if weekday != 6 && ((570..<690).contains(minute) || (1020..<1200).contains(minute)) { return .peak }
        return .normal
    }
}
