#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One series' open compliance periods: the clock hour being filled, the last eight hourly
/// values (for 8-hour means), the local day and the calendar year. An hour averages its
/// readings; longer periods average the valid hourly values (and a year the valid daily
/// values), as monitoring practice computes daily and annual means. Decibel series average by
/// energy (LAeq). Pure: times are handed in; a period closes when a reading or `advance`
/// passes its end.
public struct ComplianceTracker: Sendable, Equatable, Codable {
    public let decibels: Bool
    public let validity: ValidityRule
    public let calendar: LocalCalendar
    /// Bit per `CompliancePeriod` whose closed periods the owner wants back.
    let wanted: UInt8

    static let hourMilliseconds: Int64 = 3_600_000
    static let quarterMilliseconds: Int64 = 900_000

    // The open hour.
    public private(set) var hourStart: Int64?
    var sum = 0.0
    var energy = 0.0
    var count = 0
    var hourMax = -Double.infinity
    var quarters: UInt8 = 0
    /// Valid hourly values of the last eight hours, by start (for running 8-hour means).
    var recent: [Hourly] = []
    // The open day and year: sums of valid hourly (daily) values in the averaging domain.
    var day: Aggregate?
    var year: Aggregate?
    /// Readings in a period already closed: not averaged (a closed period is never written twice).
    public private(set) var late = 0
    /// Everything before this instant is closed (the end of the last period closed).
    public private(set) var closedThrough = Int64.min

    struct Hourly: Sendable, Equatable, Codable {
        var start: Int64
        var value: Double
    }

    struct Aggregate: Sendable, Equatable, Codable {
        var start: Int64
        var end: Int64
        var parts: Int
        var total = 0.0
        var valid = 0
        var max = -Double.infinity
    }

    public init(periods: Set<CompliancePeriod>, decibels: Bool, validity: ValidityRule, calendar: LocalCalendar) {
        var wanted: UInt8 = 0
        for period in periods { wanted |= period.bit }
        self.wanted = wanted
        self.decibels = decibels
        self.validity = validity
        self.calendar = calendar
    }

    /// Whether any period is open (a tracker with nothing open can be dropped).
    public var isIdle: Bool { hourStart == nil && day == nil && year == nil }

    /// One accepted reading; returns the periods it closed (those that ended at or before it).
    public mutating func add(_ value: Double, at time: EventTime, into closed: inout [ClosedPeriod]) {
        advance(to: time, into: &closed)
        let start = calendar.floor(time, step: Self.hourMilliseconds)
        if time.milliseconds < closedThrough || hourStart.map({ start < $0 }) == true {
            late += 1
            return
        }
        if hourStart == nil { hourStart = start }
        sum += value
        if decibels { energy += pow(10, value / 10) }
        count += 1
        hourMax = Swift.max(hourMax, value)
        quarters |= UInt8(1) << UInt8((time.milliseconds - start) / Self.quarterMilliseconds)
    }

    /// Closes every period that ended at or before `time`.
    public mutating func advance(to time: EventTime, into closed: inout [ClosedPeriod]) {
        let t = time.milliseconds
        if let start = hourStart, start + Self.hourMilliseconds <= t { closeHour(into: &closed) }
        if let d = day, d.end <= t { closeDay(into: &closed) }
        if let y = year, y.end <= t { closeYear(into: &closed) }
    }

    private func average(_ total: Double, _ n: Int) -> Double {
        decibels ? 10 * log10(total / Double(n)) : total / Double(n)
    }

    /// What a valid value contributes to a longer average: itself, or its energy.
    private func weight(_ value: Double) -> Double { decibels ? pow(10, value / 10) : value }

    private mutating func closeHour(into closed: inout [ClosedPeriod]) {
        guard let start = hourStart else { return }
        let covered = quarters.nonzeroBitCount
        let valid = covered >= validity.minQuarterHours
        let value = count > 0 ? (decibels ? 10 * log10(energy / Double(count)) : sum / Double(count)) : nil
        let end = start + Self.hourMilliseconds
        closedThrough = max(closedThrough, end)
        if wanted & CompliancePeriod.hour.bit != 0 {
            closed.append(
                ClosedPeriod(
                    period: .hour, start: EventTime(milliseconds: start), end: EventTime(milliseconds: end),
                    value: value, max: count > 0 ? hourMax : nil, covered: covered, parts: 4, valid: valid,
                    samples: count))
        }
        // The hour counts in longer periods only when valid.
        recent.removeAll { $0.start <= start - 8 * Self.hourMilliseconds }
        if valid, let value { recent.append(Hourly(start: start, value: value)) }
        if wanted & CompliancePeriod.eightHours.bit != 0 {
            let needed = (8 * validity.minHours + 23) / 24
            let values = recent.map(\.value)
            closed.append(
                ClosedPeriod(
                    period: .eightHours, start: EventTime(milliseconds: end - 8 * Self.hourMilliseconds),
                    end: EventTime(milliseconds: end),
                    value: values.isEmpty ? nil : average(values.reduce(0) { $0 + weight($1) }, values.count),
                    max: values.max(), covered: values.count, parts: 8, valid: values.count >= needed,
                    samples: values.count))
        }
        if wanted & (CompliancePeriod.day.bit | CompliancePeriod.year.bit) != 0 {
            let dayStart = calendar.floor(EventTime(milliseconds: start), step: LocalCalendar.dayMilliseconds)
            if let d = day, d.start != dayStart { closeDay(into: &closed) }
            if day == nil {
                day = Aggregate(start: dayStart, end: dayStart + LocalCalendar.dayMilliseconds, parts: 24)
            }
            if valid, let value {
                day!.total += weight(value)
                day!.valid += 1
                day!.max = Swift.max(day!.max, value)
            }
        }
        hourStart = nil
        sum = 0
        energy = 0
        count = 0
        hourMax = -.infinity
        quarters = 0
    }

    private mutating func closeDay(into closed: inout [ClosedPeriod]) {
        guard let d = day else { return }
        day = nil
        closedThrough = max(closedThrough, d.end)
        let value = d.valid > 0 ? average(d.total, d.valid) : nil
        let valid = d.valid >= validity.minHours
        if wanted & CompliancePeriod.day.bit != 0 {
            closed.append(
                ClosedPeriod(
                    period: .day, start: EventTime(milliseconds: d.start), end: EventTime(milliseconds: d.end),
                    value: value, max: d.valid > 0 ? d.max : nil, covered: d.valid, parts: 24, valid: valid,
                    samples: d.valid))
        }
        guard wanted & CompliancePeriod.year.bit != 0 else { return }
        let y = calendar.year(EventTime(milliseconds: d.start))
        if let open = year, open.start != y.start { closeYear(into: &closed) }
        if year == nil { year = Aggregate(start: y.start, end: y.end, parts: y.days) }
        // The annual mean is the mean of valid daily means.
        if valid, let value {
            year!.total += weight(value)
            year!.valid += 1
            year!.max = Swift.max(year!.max, value)
        }
    }

    private mutating func closeYear(into closed: inout [ClosedPeriod]) {
        guard let y = year else { return }
        year = nil
        closedThrough = max(closedThrough, y.end)
        let needed = (y.parts * validity.minHours + 23) / 24
        closed.append(
            ClosedPeriod(
                period: .year, start: EventTime(milliseconds: y.start), end: EventTime(milliseconds: y.end),
                value: y.valid > 0 ? average(y.total, y.valid) : nil, max: y.valid > 0 ? y.max : nil,
                covered: y.valid, parts: y.parts, valid: y.valid >= needed, samples: y.valid))
    }

    /// The year so far (valid days and their mean), for the API and reports before it closes.
    public var yearToDate: (start: EventTime, validDays: Int, days: Int, mean: Double?)? {
        guard let y = year else { return nil }
        return (EventTime(milliseconds: y.start), y.valid, y.parts, y.valid > 0 ? average(y.total, y.valid) : nil)
    }
}
