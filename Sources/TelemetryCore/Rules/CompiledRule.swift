/// A rule as the engine evaluates it per reading: plain values only, so reading one costs no
/// reference counting, and its window already resolved per series by the engine.
struct CompiledRule: Sendable {
    enum Check: Sendable {
        case reading(above: Bool, limit: Double, clear: Double)
        case window(WindowStatistic, above: Bool, limit: Double, clear: Double)
        case rateOfChange(limit: Double)
        case outOfRange
        case stale(afterMilliseconds: Int64)
        case flatline(spread: Double, minCount: Int)
        case completeness(expected: Int, minShare: Double)
        case counterReset
        case calibrating(afterMilliseconds: Int64)

        var isStale: Bool { if case .stale = self { true } else { false } }
    }

    let check: Check
    let forMilliseconds: Int64
    let renotifyMilliseconds: Int64?
    let requireValid: Bool
    /// A threshold that cites a regulation: the time its value is beyond the limit is counted.
    let countsExceedance: Bool
    let validity: ValidityRule
    private let activeStart: Int
    private let activeEnd: Int
    private let calendar: LocalCalendar
    private let validFrom: Int64
    private let validUntil: Int64

    init(_ rule: Rule) {
        switch rule.condition {
        case .threshold(.reading, let above, let limit, let clear):
            check = .reading(above: above, limit: limit, clear: clear ?? limit)
        case .threshold(.window(_, let statistic), let above, let limit, let clear):
            check = .window(statistic, above: above, limit: limit, clear: clear ?? limit)
        case .rateOfChange(_, let limit): check = .rateOfChange(limit: limit)
        case .outOfRange: check = .outOfRange
        case .stale(let after): check = .stale(afterMilliseconds: after)
        case .flatline(_, let spread, let minCount): check = .flatline(spread: spread, minCount: minCount)
        case .completeness(_, let expected, let minShare): check = .completeness(expected: expected, minShare: minShare)
        case .counterReset: check = .counterReset
        case .calibrating(let after): check = .calibrating(afterMilliseconds: after)
        }
        forMilliseconds = rule.forMilliseconds
        renotifyMilliseconds = rule.renotifyMilliseconds
        requireValid = rule.requireValid
        switch rule.condition {
        case .threshold: countsExceedance = rule.reference != nil
        default: countsExceedance = false
        }
        validity = rule.validity
        activeStart = rule.activeMinutes?.start ?? -1
        activeEnd = rule.activeMinutes?.end ?? -1
        calendar = LocalCalendar(utcOffsetMinutes: rule.utcOffsetMinutes)
        validFrom = rule.validFrom?.milliseconds ?? .min
        validUntil = rule.validUntil?.milliseconds ?? .max
    }

    var hasHours: Bool { activeStart >= 0 }

    /// `Rule.isActive(at:)`, from the compiled values.
    func isActive(at time: EventTime) -> Bool {
        guard time.milliseconds >= validFrom && time.milliseconds < validUntil else { return false }
        guard activeStart >= 0 else { return true }
        return LocalCalendar.within(calendar.minuteOfDay(time), from: activeStart, to: activeEnd)
    }
}
