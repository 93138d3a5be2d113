#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One series' compliance periods: clock hours, running 8-hour means of hours, local days and
/// the calendar year. An hour weights each reading by the time it stands for (until the next
/// reading, at most `policy.samplingMilliseconds`); longer periods average the valid hourly
/// values (a year the valid daily values), as monitoring practice computes daily and annual
/// means. Decibel series average by energy (LAeq).
///
/// Every hour from the first reading on is written, silent ones too (`samples: 0`, capture
/// 0, not valid), so capture counts the hours that should exist. A period closes
/// `policy.latenessMilliseconds` after its end; a reading for an hour closed less than
/// `policy.reviseMilliseconds` ago re-issues it, and the 8-hour means and day it belongs to,
/// with the next revision number. Pure: times are handed in.
public struct ComplianceTracker: Sendable, Equatable, Codable {
    public let decibels: Bool
    public let validity: ValidityRule
    public let calendar: LocalCalendar
    /// Set again from the configuration when a tracker is restored.
    public package(set) var policy = CompliancePolicy()
    /// Bit per `CompliancePeriod` whose closed periods the owner wants back.
    let wanted: UInt8

    static let hourMilliseconds: Int64 = 3_600_000
    static let quarterMilliseconds: Int64 = 900_000
    /// A silence longer than this many hours writes empty hours only for its last part (a
    /// clock that jumped, a station restored after a year).
    static let emptyHoursCap: Int64 = 400 * 24

    /// An hour with readings, open or closed and still revisable: its readings sorted by time
    /// (milliseconds after the hour's start), so that time weights are exact however they came.
    struct Hour: Sendable, Equatable, Codable {
        var start: Int64
        var offsets: [Int32] = []
        var values: [Double] = []
        /// Readings taken since the hour was last issued.
        var late = 0
        /// A re-issue is pending.
        var dirty: Bool { late > 0 }
        /// When the last of those arrived: the re-issue waits until the lateness has passed
        /// since, so a backlog trickling in makes one revision, not one per boundary.
        var lastLate: Int64 = 0
    }

    /// A closed hour as issued.
    struct HourResult: Sendable, Equatable, Codable {
        var start: Int64
        var value: Double?
        var max: Double?
        var covered: Int
        var samples: Int
        var valid: Bool
        var revision = 0
        /// Revision of the 8-hour mean that ends with this hour.
        var eightRevision = 0
        var late = 0
    }

    struct DayResult: Sendable, Equatable, Codable {
        var start: Int64
        var value: Double?
        var valid: Bool
        var revision = 0
    }

    struct Aggregate: Sendable, Equatable, Codable {
        var start: Int64
        var end: Int64
        var parts: Int
        var total = 0.0
        var valid = 0
        var max = -Double.infinity
    }

    var hours: [Hour] = []
    var results: [HourResult] = []
    var days: [DayResult] = []
    /// The day whose hours are closing, not yet issued itself.
    var openDay: Int64?
    var year: Aggregate?
    /// Readings too late to revise anything (older than `reviseMilliseconds`): not averaged.
    public private(set) var late = 0
    /// Every hour before this instant is closed; nil before the first reading.
    public private(set) var closedThrough: Int64?
    /// False when no closed hour waits for a re-issue: the summaries' pass over every tracker
    /// then skips the hours (3 % of parkd's CPU at 100 000 series, 1 s summaries). Set when a
    /// late reading marks an hour; true after decoding, so the first pass looks.
    private var mayReissue = ReissueHint()

    // The policy is the configuration's, not state: a restored tracker takes the one in force.
    enum CodingKeys: String, CodingKey {
        case decibels, validity, calendar, wanted, hours, results, days, openDay, year, late, closedThrough
    }

    public init(
        periods: Set<CompliancePeriod>, decibels: Bool, validity: ValidityRule, calendar: LocalCalendar,
        policy: CompliancePolicy = CompliancePolicy()
    ) {
        var wanted: UInt8 = 0
        for period in periods { wanted |= period.bit }
        self.wanted = wanted
        self.decibels = decibels
        self.validity = validity
        self.calendar = calendar
        self.policy = policy
    }

    /// Whether no period is open (a retired tracker like this can be dropped; hours it could
    /// still revise go with it).
    public var isIdle: Bool { openDay == nil && year == nil && !hours.contains { !isClosed($0) } }

    /// Every hour before `closedThrough` is closed (issued, or skipped by a jump).
    private func isClosed(_ hour: Hour) -> Bool { hour.start < (closedThrough ?? .min) }

    /// One accepted reading (or one the series' windows found too late: periods keep their own
    /// lateness and revisions). Returns the periods that closed before it.
    public mutating func add(
        _ value: Double, at time: EventTime, arrival: EventTime? = nil, into closed: inout [ClosedPeriod]
    ) {
        let start = calendar.floor(time, step: Self.hourMilliseconds)
        let offset = Int32(time.milliseconds - start)
        if closedThrough == nil { closedThrough = start }
        if start >= closedThrough! {
            let i = slot(start)
            insert(offset, value, into: i)
        } else if start + Self.hourMilliseconds > closedThrough! - policy.reviseMilliseconds {
            // A closed hour: revisable if its readings are kept, or if it was issued empty.
            if let i = hours.firstIndex(where: { $0.start == start }) {
                if insert(offset, value, into: i) {
                    hours[i].late += 1
                    hours[i].lastLate = (arrival ?? time).milliseconds
                    mayReissue.value = true
                }
            } else if let r = results.firstIndex(where: { $0.start == start }), results[r].samples == 0 {
                let i = slot(start)
                insert(offset, value, into: i)
                hours[i].late = 1
                hours[i].lastLate = (arrival ?? time).milliseconds
                mayReissue.value = true
            } else {
                late += 1
            }
        } else {
            late += 1
        }
        advance(to: time, emptyHours: true, reissue: false, into: &closed)
    }

    /// The index of the hour slot starting at `start`, made if missing.
    private mutating func slot(_ start: Int64) -> Int {
        var i = hours.count
        while i > 0 && hours[i - 1].start > start { i -= 1 }
        if i > 0 && hours[i - 1].start == start { return i - 1 }
        hours.insert(Hour(start: start), at: i)
        return i
    }

    /// Inserts in time order; a second reading at the same instant is a repeat (a resent
    /// backlog) and is dropped.
    @discardableResult
    private mutating func insert(_ offset: Int32, _ value: Double, into i: Int) -> Bool {
        // In time order (the usual case): appended in place, no copy of the arrays.
        if hours[i].offsets.last.map({ $0 < offset }) ?? true {
            hours[i].offsets.append(offset)
            hours[i].values.append(value)
            return true
        }
        let offsets = hours[i].offsets
        var lo = 0
        var hi = offsets.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if offsets[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        if lo < offsets.count && offsets[lo] == offset { return false }
        hours[i].offsets.insert(offset, at: lo)
        hours[i].values.insert(value, at: lo)
        return true
    }

    /// Closes every period that ended at or before `time` less the lateness. Empty hours are
    /// written only while `emptyHours` (a series evicted stops writing them); re-issues of
    /// revised hours happen only with `reissue` (at summary boundaries, so a backlog of sixty
    /// readings re-issues its hour once). `final`: no more readings will come (a replay's end),
    /// so periods close at their end.
    public mutating func advance(
        to time: EventTime, emptyHours: Bool = true, reissue: Bool = true, final: Bool = false,
        into closed: inout [ClosedPeriod]
    ) {
        let before = closedThrough
        guard var next = closedThrough else { return }
        let watermark = final ? time.milliseconds : time.milliseconds &- policy.latenessMilliseconds
        let closable = calendar.floor(EventTime(milliseconds: watermark), step: Self.hourMilliseconds)
        if emptyHours, (closable - next) / Self.hourMilliseconds > Self.emptyHoursCap {
            next = closable - Self.emptyHoursCap * Self.hourMilliseconds
        }
        while next + Self.hourMilliseconds <= watermark {
            if let i = hours.firstIndex(where: { $0.start == next }) {
                closeHour(next, slot: i, into: &closed)
            } else if emptyHours {
                closeHour(next, slot: nil, into: &closed)
            } else {
                // Silent hours of an evicted series are skipped, to its next reading if any.
                let target = hours.first { $0.start > next }?.start ?? closable
                next = Swift.min(target, closable)
                closedThrough = next
                closeDayIfOver(before: next, into: &closed)
                continue
            }
            next += Self.hourMilliseconds
            closedThrough = next
        }
        closeDayIfOver(before: watermark, into: &closed)
        if let y = year, y.end <= watermark, openDay == nil { closeYear(into: &closed) }
        // Without a marked hour, a re-issue finds nothing and the prune after it removes what
        // the last one left (nothing): both are skipped unless hours closed meanwhile.
        if reissue && mayReissue.value {
            reissueRevised(quietSince: final ? .max : time.milliseconds &- policy.latenessMilliseconds, into: &closed)
            mayReissue.value = hours.contains(where: \.dirty)
            prune()
        } else if closedThrough != before {
            prune()
        }
    }

    private func average(_ total: Double, _ n: Int) -> Double {
        decibels ? 10 * log10(total / Double(n)) : total / Double(n)
    }

    /// What a value contributes to an average: itself, or its energy.
    private func weight(_ value: Double) -> Double { decibels ? pow(10, value / 10) : value }

    /// An hour's figures from its readings, each weighted by the time until the next reading
    /// (the next hour's first, for the last), at most the sampling interval; the last reading
    /// before a silence stands as long as the gap before it did.
    private func result(of i: Int) -> HourResult {
        let hour = hours[i]
        let start = hour.start
        let cap = policy.samplingMilliseconds
        let successor = hours[(i + 1)...].first { !$0.offsets.isEmpty }.map { $0.start + Int64($0.offsets[0]) }
        var total = 0.0
        var weighted = 0.0
        var highest = -Double.infinity
        var quarters: UInt8 = 0
        var previous: Int64?
        let n = hour.offsets.count
        for k in 0..<n {
            let t = start + Int64(hour.offsets[k])
            let next = k + 1 < n ? start + Int64(hour.offsets[k + 1]) : successor
            let credit = next.map { Swift.min($0 - t, cap) } ?? (previous ?? cap)
            previous = credit
            total += Double(credit)
            weighted += Double(credit) * weight(hour.values[k])
            highest = Swift.max(highest, hour.values[k])
            quarters |= UInt8(1) << UInt8(Int64(hour.offsets[k]) / Self.quarterMilliseconds)
        }
        let covered = quarters.nonzeroBitCount
        let value: Double? =
            n > 0 && total > 0 ? (decibels ? 10 * log10(weighted / total) : weighted / total) : nil
        return HourResult(
            start: start, value: value, max: n > 0 ? highest : nil, covered: covered, samples: n,
            valid: value != nil && covered >= validity.minQuarterHours, late: hour.late)
    }

    private func closedHour(_ r: HourResult) -> ClosedPeriod {
        ClosedPeriod(
            period: .hour, start: EventTime(milliseconds: r.start),
            end: EventTime(milliseconds: r.start + Self.hourMilliseconds), value: r.value, max: r.max,
            covered: r.covered, parts: 4, valid: r.valid, samples: r.samples, revision: r.revision, late: r.late)
    }

    /// The running 8-hour mean that ends at `end`, from the valid hourly values before it.
    private func eightHours(endingAt end: Int64, revision: Int) -> ClosedPeriod {
        let from = end - 8 * Self.hourMilliseconds
        let values = results.filter { $0.start >= from && $0.start < end && $0.valid }.compactMap(\.value)
        let needed = (8 * validity.minHours + 23) / 24
        return ClosedPeriod(
            period: .eightHours, start: EventTime(milliseconds: from), end: EventTime(milliseconds: end),
            value: values.isEmpty ? nil : average(values.reduce(0) { $0 + weight($1) }, values.count),
            max: values.max(), covered: values.count, parts: 8, valid: values.count >= needed,
            samples: values.count, revision: revision)
    }

    private mutating func closeHour(_ start: Int64, slot: Int?, into closed: inout [ClosedPeriod]) {
        let dayStart = calendar.floor(EventTime(milliseconds: start), step: LocalCalendar.dayMilliseconds)
        if let open = openDay, open != dayStart { closeDay(open, into: &closed) }
        let r: HourResult
        if let slot {
            r = result(of: slot)
            hours[slot].late = 0
            // A dense hour is not kept for revisions (memory): later readings count late.
            if hours[slot].offsets.count > policy.revisableReadings || policy.reviseMilliseconds == 0 {
                hours[slot].offsets = []
                hours[slot].values = []
            }
        } else {
            r = HourResult(start: start, value: nil, max: nil, covered: 0, samples: 0, valid: false)
        }
        results.append(r)
        let end = start + Self.hourMilliseconds
        if wanted & CompliancePeriod.hour.bit != 0 { closed.append(closedHour(r)) }
        if wanted & CompliancePeriod.eightHours.bit != 0 { closed.append(eightHours(endingAt: end, revision: 0)) }
        if wanted & (CompliancePeriod.day.bit | CompliancePeriod.year.bit) != 0 {
            openDay = dayStart
            if end == dayStart + LocalCalendar.dayMilliseconds { closeDay(dayStart, into: &closed) }
        }
    }

    private mutating func closeDayIfOver(before instant: Int64, into closed: inout [ClosedPeriod]) {
        if let open = openDay, open + LocalCalendar.dayMilliseconds <= instant { closeDay(open, into: &closed) }
    }

    /// A day from the valid hourly values it holds.
    private func day(_ start: Int64, revision: Int) -> (ClosedPeriod, DayResult) {
        let end = start + LocalCalendar.dayMilliseconds
        let values = results.filter { $0.start >= start && $0.start < end && $0.valid }.compactMap(\.value)
        let value = values.isEmpty ? nil : average(values.reduce(0) { $0 + weight($1) }, values.count)
        let valid = values.count >= validity.minHours
        return (
            ClosedPeriod(
                period: .day, start: EventTime(milliseconds: start), end: EventTime(milliseconds: end), value: value,
                max: values.max(), covered: values.count, parts: 24, valid: valid, samples: values.count,
                revision: revision),
            DayResult(start: start, value: value, valid: valid, revision: revision)
        )
    }

    private mutating func closeDay(_ start: Int64, into closed: inout [ClosedPeriod]) {
        openDay = nil
        let (period, result) = day(start, revision: 0)
        days.append(result)
        if wanted & CompliancePeriod.day.bit != 0 { closed.append(period) }
        guard wanted & CompliancePeriod.year.bit != 0 else { return }
        let y = calendar.year(EventTime(milliseconds: start))
        if let open = year, open.start != y.start { closeYear(into: &closed) }
        if year == nil { year = Aggregate(start: y.start, end: y.end, parts: y.days) }
        // The annual mean is the mean of valid daily means.
        if result.valid, let value = result.value {
            year!.total += weight(value)
            year!.valid += 1
            year!.max = Swift.max(year!.max, value)
        }
    }

    private mutating func closeYear(into closed: inout [ClosedPeriod]) {
        guard let y = year else { return }
        year = nil
        let needed = (y.parts * validity.minHours + 23) / 24
        closed.append(
            ClosedPeriod(
                period: .year, start: EventTime(milliseconds: y.start), end: EventTime(milliseconds: y.end),
                value: y.valid > 0 ? average(y.total, y.valid) : nil, max: y.valid > 0 ? y.max : nil,
                covered: y.valid, parts: y.parts, valid: y.valid >= needed, samples: y.valid))
    }

    /// Re-issues each closed hour that took readings since it was issued (the last of them at
    /// least the lateness ago, on the clock `advance` is given), then the 8-hour
    /// means that include it and its day, if those were issued already. A year still open
    /// takes the revised day; a closed year is not re-issued.
    private mutating func reissueRevised(quietSince: Int64, into closed: inout [ClosedPeriod]) {
        guard let through = closedThrough else { return }
        var revisedDays = Set<Int64>()
        var revisedEnds = Set<Int64>()
        for i in hours.indices where isClosed(hours[i]) && hours[i].dirty && hours[i].lastLate <= quietSince {
            guard let r = results.firstIndex(where: { $0.start == hours[i].start }) else { continue }
            var fresh = result(of: i)
            fresh.revision = results[r].revision + 1
            fresh.eightRevision = results[r].eightRevision
            results[r] = fresh
            hours[i].late = 0
            if hours[i].offsets.count > policy.revisableReadings {
                hours[i].offsets = []
                hours[i].values = []
            }
            if wanted & CompliancePeriod.hour.bit != 0 { closed.append(closedHour(fresh)) }
            var end = fresh.start + Self.hourMilliseconds
            while end <= through && end <= fresh.start + 8 * Self.hourMilliseconds {
                revisedEnds.insert(end)
                end += Self.hourMilliseconds
            }
            revisedDays.insert(
                calendar.floor(EventTime(milliseconds: fresh.start), step: LocalCalendar.dayMilliseconds))
        }
        // Each 8-hour mean once, from every revised hour of this pass (consecutive revised
        // hours share up to seven of them).
        if wanted & CompliancePeriod.eightHours.bit != 0 {
            for end in revisedEnds.sorted() {
                guard let e = results.firstIndex(where: { $0.start == end - Self.hourMilliseconds }) else { continue }
                results[e].eightRevision += 1
                closed.append(eightHours(endingAt: end, revision: results[e].eightRevision))
            }
        }
        for start in revisedDays.sorted() {
            guard let d = days.firstIndex(where: { $0.start == start }) else { continue }
            let old = days[d]
            let (period, fresh) = day(start, revision: old.revision + 1)
            days[d] = fresh
            if wanted & CompliancePeriod.day.bit != 0 { closed.append(period) }
            if var y = year, start >= y.start, start < y.end {
                if old.valid, let value = old.value {
                    y.total -= weight(value)
                    y.valid -= 1
                }
                if fresh.valid, let value = fresh.value {
                    y.total += weight(value)
                    y.valid += 1
                    y.max = Swift.max(y.max, value)
                }
                year = y
            }
        }
    }

    /// Drops what no revision, 8-hour mean or open day can need any more.
    private mutating func prune() {
        guard let through = closedThrough else { return }
        // A revised hour waiting for its re-issue stays, with the results its day needs.
        let waiting = hours.lazy.filter(\.dirty).map(\.start).min()
        let horizon = Swift.min(through - policy.reviseMilliseconds, waiting ?? .max)
        hours.removeAll {
            $0.start < through && !$0.dirty && ($0.start + Self.hourMilliseconds <= horizon || $0.offsets.isEmpty)
        }
        var keepFrom = Swift.min(
            calendar.floor(EventTime(milliseconds: horizon), step: LocalCalendar.dayMilliseconds),
            horizon - 8 * Self.hourMilliseconds, through - 8 * Self.hourMilliseconds)
        if let open = openDay { keepFrom = Swift.min(keepFrom, open) }
        if let first = results.first, first.start < keepFrom { results.removeAll { $0.start < keepFrom } }
        if let first = days.first, first.start + LocalCalendar.dayMilliseconds <= horizon {
            days.removeAll { $0.start + LocalCalendar.dayMilliseconds <= horizon }
        }
    }

    /// The year so far (valid days and their mean), for the API and reports before it closes.
    public var yearToDate: (start: EventTime, validDays: Int, days: Int, mean: Double?)? {
        guard let y = year else { return nil }
        return (EventTime(milliseconds: y.start), y.valid, y.parts, y.valid > 0 ? average(y.total, y.valid) : nil)
    }
}

/// Whether a tracker may hold an hour to re-issue: a hint kept beside the state, not state
/// (trackers equal in every period compare equal whatever it says; it is not saved).
struct ReissueHint: Sendable, Equatable {
    var value = true
    static func == (_: ReissueHint, _: ReissueHint) -> Bool { true }
}
