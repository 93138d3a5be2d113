import TelemetryCore
import UplinkWire

/// One regulatory limit judged on one completed period of one station (series): the value
/// of the clock hour, 8-hour mean, local day or calendar year, its data capture, the limit in
/// force when the period started, and whether it was exceeded (only a valid average can be).
public struct ComplianceRecord: Sendable, Equatable {
    public var rule: String
    public var reference: String?
    public var series: SeriesID
    public var closed: ClosedPeriod
    public var statistic: WindowStatistic
    public var limit: Double
    public var above: Bool

    public var exceeded: Bool {
        guard closed.valid, let value = closed.value else { return false }
        return above ? value > limit : value < limit
    }
}

/// Per station, rule and averaging time over a summary interval: what an auditor tallies.
public struct ComplianceTally: Sendable, Equatable {
    public var rule: String
    public var series: SeriesID
    public var period: CompliancePeriod
    public var limit: Double
    public var periods = 0
    public var valid = 0
    public var exceeded = 0
    public var covered = 0
    public var parts = 0
    /// The highest valid period value.
    public var max: Double?

    public var capture: Double { parts > 0 ? Double(covered) / Double(parts) : 0 }
}

/// Stage 6a, compliance: each accepted reading of a series a regulatory rule matches goes into
/// that series' fixed periods (`ComplianceTracker`); a period closes when a reading passes its
/// end or a summary boundary does, and becomes one record per rule in force for it (the day
/// or night noise limit by the hour's start, the PM2.5 limit by the day's date). Trackers are
/// kept by series identity, not slot, so evicting a silent series does not lose its year:
/// the trackers of evicted series stay, up to `retiredCap` of them; past it the longest
/// retired ones with no period open go, so memory follows the live series, not every name
/// ever seen (a sensor with a counter in its name, months of DevEUI churn).
package struct ComplianceStage {
    private(set) var standards: [Rule]
    package let validity: ValidityRule
    package let calendar: LocalCalendar
    package let policy: CompliancePolicy
    private var trackers: [ComplianceTracker] = []
    private var trackerIDs: [SeriesID] = []
    /// Per tracker: the standards (indexes) that match its series.
    private var trackerRules: [[Int]] = []
    /// Series → its tracker (the ids are in `trackerIDs`).
    private var trackerIndex = SlotIndex()
    /// Per series slot: its tracker, -1 for none, -2 not yet resolved.
    private var slots: [Int32] = []
    private(set) var records: [ComplianceRecord] = []
    /// Trackers of evicted series, the longest retired first.
    private var retired: [SeriesID] = []
    package static let retiredCap = 1_000
    /// [schedule][(rule, series, period)]
    private var tallies: [[String: ComplianceTally]]
    private var closed: [ClosedPeriod] = []

    package init(
        rules: [Rule], schedules: Int, validity: ValidityRule, utcOffsetMinutes: Int,
        policy: CompliancePolicy = CompliancePolicy()
    ) {
        standards = rules.filter { $0.compliancePeriod != nil && $0.complianceLimit != nil }
        self.validity = validity
        self.policy = policy
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        tallies = Array(repeating: [:], count: max(1, schedules))
    }

    package var isEmpty: Bool { standards.isEmpty }

    package mutating func opened(slot: Int32) {
        while slots.count <= Int(slot) { slots.append(-2) }
    }

    private func trackerOf(_ id: SeriesID) -> Int32? { trackerIndex.slot(of: id) { trackerIDs[Int($0)] } }

    /// An accepted reading of series `s`.
    package mutating func observe(
        slot s: Int, _ id: @autoclosure () -> SeriesID, _ reading: Reading, arrival: EventTime, decibels: Bool
    ) {
        guard !standards.isEmpty else { return }
        if slots[s] == -2 { slots[s] = resolve(id(), decibels: decibels) }
        let t = Int(slots[s])
        guard t >= 0 else { return }
        trackers[t].add(reading.value, at: reading.time, arrival: arrival, into: &closed)
        if !closed.isEmpty { emit(t) }
    }

    private mutating func resolve(_ id: SeriesID, decibels: Bool) -> Int32 {
        if let known = trackerOf(id) {
            // A retired (or restored) station that reads again is live: its silent hours are
            // written again, and it cannot be dropped past the cap.
            retired.removeAll { $0 == id }
            return known
        }
        let matching = Rule.indices(in: standards, matching: id)
        guard !matching.isEmpty else { return -1 }
        let periods = Set(matching.compactMap { standards[$0].compliancePeriod })
        trackers.append(
            ComplianceTracker(
                periods: periods, decibels: decibels, validity: validity, calendar: calendar, policy: policy))
        trackerIDs.append(id)
        trackerRules.append(matching)
        trackerIndex.insert(id, slot: Int32(trackers.count - 1))
        return Int32(trackers.count - 1)
    }

    /// Closes every period that ended at or before `time` less the lateness (a summary
    /// boundary passed), and re-issues the hours that took late readings. A retired series
    /// (evicted) finishes its open periods but writes no more silent hours.
    package mutating func advance(to time: EventTime, final: Bool = false) {
        let retiredTrackers = Set(retired.compactMap { trackerOf($0) })
        for t in trackers.indices {
            // A live series' silent hours are written too; a retired one only finishes what is open.
            let live = !retiredTrackers.contains(Int32(t))
            guard live || !trackers[t].isIdle else { continue }
            trackers[t].advance(to: time, emptyHours: live, reissue: true, final: final, into: &closed)
            if !closed.isEmpty { emit(t) }
        }
        dropRetired(cap: Self.retiredCap)
    }

    /// Each closed period of tracker t becomes a record per standard in force when it started.
    private mutating func emit(_ t: Int) {
        for period in closed {
            for r in trackerRules[t] where standards[r].compliancePeriod == period.period {
                let rule = standards[r]
                guard rule.isActive(at: period.start), let (limit, above, statistic) = rule.complianceLimit else {
                    continue
                }
                let record = ComplianceRecord(
                    rule: rule.id, reference: rule.reference, series: trackerIDs[t], closed: period,
                    statistic: statistic, limit: limit, above: above)
                records.append(record)
                // A tally counts each period once, at its first issue; revisions are in the records.
                guard period.revision == 0 else { continue }
                let key = "\(rule.id)\u{0}\(trackerIDs[t])"
                for k in tallies.indices {
                    var tally =
                        tallies[k][key]
                        ?? ComplianceTally(rule: rule.id, series: trackerIDs[t], period: period.period, limit: limit)
                    tally.periods += 1
                    tally.covered += period.covered
                    tally.parts += period.parts
                    if period.valid, let value = period.value {
                        tally.valid += 1
                        tally.max = Swift.max(tally.max ?? value, value)
                    }
                    if record.exceeded { tally.exceeded += 1 }
                    tally.limit = limit
                    tallies[k][key] = tally
                }
            }
        }
        closed.removeAll(keepingCapacity: true)
    }

    /// The records closed since the last call, in the order they closed.
    package mutating func takeRecords() -> [ComplianceRecord] {
        defer { records.removeAll(keepingCapacity: true) }
        return records
    }

    /// Schedule k's tallies since its last call, by station and rule.
    package mutating func takeTallies(schedule k: Int) -> [ComplianceTally] {
        defer { tallies[k].removeAll(keepingCapacity: true) }
        return tallies[k].values.sorted { ($0.rule, $0.series) < ($1.rule, $1.series) }
    }

    /// Series evicted: the slot map shrinks; their trackers retire, and the longest retired
    /// past `cap` go (only idle ones: an open period still becomes its record).
    package mutating func remove(kept: [Bool], cap: Int = ComplianceStage.retiredCap) {
        for (slot, keep) in kept.enumerated() where !keep && slot < slots.count && slots[slot] >= 0 {
            retired.append(trackerIDs[Int(slots[slot])])
        }
        slots = slots.compacted(kept)
        let live = Set(slots.filter { $0 >= 0 })
        // A retired series that came back is live again (its tracker found by identity).
        retired = retired.filter { trackerOf($0).map { !live.contains($0) } ?? false }
        dropRetired(cap: cap)
    }

    /// Past `cap` retired trackers, the longest retired with no period open go.
    private mutating func dropRetired(cap: Int) {
        guard retired.count > cap else { return }
        // A tracker a live slot points to is never dropped, whatever the list says.
        let live = Set(slots.filter { $0 >= 0 }.map(Int.init))
        var dropped = Set<Int>()
        var keptRetired: [SeriesID] = []
        var excess = retired.count - cap
        for id in retired {
            guard let t = trackerOf(id).map(Int.init) else { continue }
            if excess > 0 && trackers[t].isIdle && !live.contains(t) {
                dropped.insert(t)
                excess -= 1
            } else {
                keptRetired.append(id)
            }
        }
        retired = keptRetired
        guard !dropped.isEmpty else { return }
        var newIndex = [Int32](repeating: -1, count: trackers.count)
        var next: Int32 = 0
        for t in trackers.indices where !dropped.contains(t) {
            newIndex[t] = next
            next += 1
        }
        let keep = trackers.indices.map { !dropped.contains($0) }
        trackers = trackers.compacted(keep)
        trackerIDs = trackerIDs.compacted(keep)
        trackerRules = trackerRules.compacted(keep)
        trackerIndex = SlotIndex(count: trackerIDs.count) { trackerIDs[Int($0)] }
        for k in slots.indices where slots[k] >= 0 { slots[k] = newIndex[Int(slots[k])] }
    }

    /// How many trackers there are, live and retired.
    package var trackerCount: Int { trackers.count }

    /// New rules from a reload: trackers whose periods are unchanged keep their open periods.
    package mutating func reload(rules: [Rule]) {
        standards = rules.filter { $0.compliancePeriod != nil && $0.complianceLimit != nil }
        for t in trackers.indices {
            let id = trackerIDs[t]
            trackerRules[t] = Rule.indices(in: standards, matching: id)
        }
        for k in slots.indices where slots[k] == -1 { slots[k] = -2 }
    }

    /// Year to date per station and annual rule, for the API.
    package var yearToDate: [(series: SeriesID, start: EventTime, validDays: Int, days: Int, mean: Double?)] {
        trackers.indices.compactMap { t in
            trackers[t].yearToDate.map { (trackerIDs[t], $0.start, $0.validDays, $0.days, $0.mean) }
        }
    }

    // Saved across restarts with the window snapshot: a year's mean must survive a restart.
    // The two arrays are shared, not zipped into a copy of both at every save (at the daemon's
    // memory peak). Ingest that writes while the file is written still copies the tracker array,
    // and the open hours of the trackers it writes to.
    package var saved: Zip2Sequence<[SeriesID], [ComplianceTracker]> { zip(trackerIDs, trackers) }

    package mutating func restore(_ saved: [(SeriesID, ComplianceTracker)]) -> Int {
        var restored = 0
        for (id, saved) in saved where trackerOf(id) == nil {
            // The configuration in force decides lateness, revisions and time weights.
            var tracker = saved
            tracker.policy = policy
            let matching = Rule.indices(in: standards, matching: id)
            guard !matching.isEmpty else { continue }
            restored += 1
            trackers.append(tracker)
            trackerIDs.append(id)
            trackerRules.append(matching)
            trackerIndex.insert(id, slot: Int32(trackers.count - 1))
            // Retired until its series reads again, so the cap holds across a restart too.
            retired.append(id)
        }
        for k in slots.indices where slots[k] < 0 { slots[k] = -2 }
        return restored
    }
}
