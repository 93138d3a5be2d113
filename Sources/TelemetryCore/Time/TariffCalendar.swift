/// A time-of-use period of an electricity tariff.
public enum TariffPeriod: String, Sendable, CaseIterable {
    case peak, normal
    case offPeak = "off_peak"

    public var index: Int {
        switch self {
        case .peak: 0
        case .normal: 1
        case .offPeak: 2
        }
    }
}

/// One dated time-of-use schedule: which hours of which weekdays are peak or off-peak
/// (everything else is normal), from a date on, with the text it comes from.
public struct TariffSchedule: Sendable, Equatable {
    public struct Span: Sendable, Equatable {
        public var period: TariffPeriod
        /// Bit d: weekday d (0 = Monday … 6 = Sunday).
        public var days: UInt8
        /// Local minutes after midnight, end exclusive; may wrap past midnight.
        public var start: Int
        public var end: Int
        public init(period: TariffPeriod, days: UInt8, start: Int, end: Int) {
            self.period = period
            self.days = days
            self.start = start
            self.end = end
        }
    }

    public var name: String
    /// In force from this instant (local midnight of its date) until the next schedule's.
    public var from: EventTime
    public var source: String
    /// Whether its hours were checked against the regulation's text (`confirmed: true`);
    /// figures it splits say so either way.
    public var confirmed: Bool
    public var spans: [Span]

    public init(name: String, from: EventTime, source: String, confirmed: Bool = false, spans: [Span]) {
        self.name = name
        self.from = from
        self.source = source
        self.confirmed = confirmed
        self.spans = spans
    }

    /// EVN time of use under Circular 16/2014/TT-BCT (Article 4 as commonly cited): peak
    /// Monday–Saturday 09:30–11:30 and 17:00–20:00; off-peak every day 22:00–04:00; normal
    /// otherwise (Sunday has no peak). The last hours confirmed from a text; Circular
    /// 60/2025/TT-BCT now governs how time-of-use prices apply, and the hours under it are not
    /// confirmed here, so the default says both and is not marked confirmed.
    public static let evn2014 = TariffSchedule(
        name: "evn-2014", from: EventTime(milliseconds: .min),
        source:
            "Circular 16/2014/TT-BCT, Article 4 (the last confirmed hours; Circular 60/2025/TT-BCT now governs time-of-use, its hours unconfirmed here)",
        confirmed: false,
        spans: [
            Span(period: .offPeak, days: 0x7F, start: 22 * 60, end: 4 * 60),
            Span(period: .peak, days: 0x3F, start: 9 * 60 + 30, end: 11 * 60 + 30),
            Span(period: .peak, days: 0x3F, start: 17 * 60, end: 20 * 60),
        ])

    public func period(weekday: Int, minute: Int) -> TariffPeriod {
        for span in spans where span.days & (UInt8(1) << UInt8(weekday)) != 0 {
            // A span that wraps past midnight belongs to the day it starts on.
            if span.start < span.end {
                if minute >= span.start && minute < span.end { return span.period }
            } else if minute >= span.start {
                return span.period
            } else if minute < span.end, span.days & (UInt8(1) << UInt8((weekday + 6) % 7)) != 0 {
                return span.period
            }
        }
        return .normal
    }

    /// The local minutes of a day where a period may change.
    var boundaries: [Int] { Array(Set([0] + spans.flatMap { [$0.start, $0.end % 1440] })).sorted() }
}

/// The schedules in force over time, in date order: the period of any instant, and where the
/// next change may fall (to split a meter's increment across periods pro rata).
public struct TariffCalendar: Sendable, Equatable {
    public let schedules: [TariffSchedule]
    public let calendar: LocalCalendar
    private let boundaries: [[Int]]

    public init(schedules: [TariffSchedule], utcOffsetMinutes: Int) {
        let sorted = schedules.isEmpty ? [.evn2014] : schedules.sorted { $0.from < $1.from }
        self.schedules = sorted
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        boundaries = sorted.map(\.boundaries)
    }

    private func scheduleIndex(at time: EventTime) -> Int {
        var found = 0
        for (k, schedule) in schedules.enumerated() where schedule.from <= time { found = k }
        return found
    }

    /// The schedule in force at `time` (the earliest one before any date).
    public func schedule(at time: EventTime) -> TariffSchedule { schedules[scheduleIndex(at: time)] }

    /// The schedules in force at some instant of [from, to), in date order.
    public func schedules(from: EventTime, to: EventTime) -> [TariffSchedule] {
        let first = scheduleIndex(at: from)
        var last = first
        while last + 1 < schedules.count && schedules[last + 1].from < to { last += 1 }
        return Array(schedules[first...last])
    }

    public func period(at time: EventTime) -> TariffPeriod {
        schedules[scheduleIndex(at: time)].period(weekday: calendar.weekday(time), minute: calendar.minuteOfDay(time))
    }

    /// The first instant after `time` at which the period may change (a span's edge, local
    /// midnight, or the next schedule's start); the period is constant in between.
    public func nextChange(after time: EventTime) -> EventTime {
        let k = scheduleIndex(at: time)
        let minute = calendar.minuteOfDay(time)
        let midnight = calendar.floor(time, step: LocalCalendar.dayMilliseconds)
        let next = boundaries[k].first { $0 > minute }.map { Int64($0) * 60_000 } ?? LocalCalendar.dayMilliseconds
        var change = EventTime(milliseconds: midnight &+ next)
        if k + 1 < schedules.count, schedules[k + 1].from < change, schedules[k + 1].from > time {
            change = schedules[k + 1].from
        }
        return change
    }
}
