/// The park's local time: a fixed offset from UTC (Vietnam keeps no daylight saving time).
/// The one place where instants become local days, minutes and boundaries, so that window
/// buckets, summary intervals, tariff periods and rule hours agree on where a day starts.
public struct LocalCalendar: Sendable, Hashable, Codable {
    /// The offset parks keep by default: UTC+7, Vietnam's local time (`summaries.utc_offset`).
    public static let defaultOffsetMinutes = 7 * 60

    public let utcOffsetMinutes: Int
    public static let dayMilliseconds: Int64 = 86_400_000

    public init(utcOffsetMinutes: Int) { self.utcOffsetMinutes = utcOffsetMinutes }

    var offsetMilliseconds: Int64 { Int64(utcOffsetMinutes) * 60_000 }

    /// ⌊a / b⌋ for b > 0, also for negative a (Swift's `/` truncates toward zero).
    public static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return a % b < 0 ? q - 1 : q
    }

    /// a mod b in 0..<b for b > 0.
    public static func floorModulo(_ a: Int64, _ b: Int64) -> Int64 {
        let r = a % b
        return r < 0 ? r + b : r
    }

    /// `time` in local milliseconds; saturates instead of trapping at the ends of Int64.
    private func local(_ time: EventTime) -> Int64 {
        let (sum, overflow) = time.milliseconds.addingReportingOverflow(offsetMilliseconds)
        return overflow ? (offsetMilliseconds > 0 ? .max : .min) : sum
    }

    /// The start (as a UTC instant) of the local span of `step` milliseconds holding `time`:
    /// a 15-minute bucket, a local day.
    public func floor(_ time: EventTime, step: Int64) -> Int64 {
        Self.floorDivide(local(time), step) &* step &- offsetMilliseconds
    }

    /// The next local multiple of `step` strictly after `time`.
    public func nextBoundary(after time: EventTime, step: Int64) -> EventTime {
        EventTime(milliseconds: floor(time, step: step) + step)
    }

    /// Minutes after local midnight (0..<1440).
    public func minuteOfDay(_ time: EventTime) -> Int {
        Int(Self.floorModulo(local(time), Self.dayMilliseconds) / 60_000)
    }

    /// Local days since 1970-01-01.
    public func day(_ time: EventTime) -> Int64 {
        Self.floorDivide(local(time), Self.dayMilliseconds)
    }

    /// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
    public func weekday(_ time: EventTime) -> Int {
        Int(((day(time) % 7) + 7 + 3) % 7)
    }

    /// Whether `minute` lies in [start, end), a span that may wrap past midnight.
    public static func within(_ minute: Int, from start: Int, to end: Int) -> Bool {
        start <= end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }
}

extension LocalCalendar {
    /// The local calendar year holding `time`: its start and end as UTC instants, and its days
    /// (annual limits are judged on the calendar year, not on a rolling 365 days).
    public func year(_ time: EventTime) -> (start: Int64, end: Int64, days: Int) {
        // Clamped: admitted times are sane, but a calendar must not trap on any input.
        let (y, _, _) = RFC3339.civilFromDays(Int(max(-100_000_000, min(100_000_000, day(time)))))
        let first = Int64(RFC3339.daysFromCivil(year: y, month: 1, day: 1))
        let next = Int64(RFC3339.daysFromCivil(year: y + 1, month: 1, day: 1))
        return (
            first &* Self.dayMilliseconds &- offsetMilliseconds, next &* Self.dayMilliseconds &- offsetMilliseconds,
            Int(next - first)
        )
    }
}
