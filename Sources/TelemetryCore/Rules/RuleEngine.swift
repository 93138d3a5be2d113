/// Evaluates rules against each series as readings arrive, and against the clock for the
/// rules that watch silence. Pure: time is handed in.
///
/// Rules are compiled once: each series resolves the rules that match it, and the windows
/// they read, when it is first seen. A reading then evaluates only those rules, from plain
/// values (no `Rule` is copied), and each window a rule reads is computed once per reading
/// through a `WindowCache`, so a 24 h mean costs one bucket merge, not twenty-four.
public struct RuleEngine: Sendable {
    public let rules: [Rule]
    private let compiled: [CompiledRule]

    /// The rules that match a series, and the windows they read: the same for every series
    /// of a kind, so kept once and shared by index.
    private struct RuleSet: Sendable {
        let rules: [Int]
        /// Every slot of `rules`, in order.
        let all: [Int]
        /// The slots of the rules that can breach on an accepted `ok` reading: all but the
        /// silence, out-of-range and calibrating rules, which can only clear on one. For a
        /// series with no alert and no exceedance open, clearing changes nothing, so these
        /// are the only rules such a reading is judged by.
        let breachable: [Int]
        /// The shortest silence any of its stale rules waits for (`Int64.max` when none).
        let shortestSilence: Int64
        var watchesSilence: Bool { shortestSilence != .max }
        /// Parallel to `rules`: the index in `reads` of the window the rule reads, or -1.
        var readSlot: [Int] = []
        /// The windows (indexes into the series' windows) the rules read.
        var reads: [Int] = []
        var resolved = false
    }

    /// Everything the engine keeps for one series, found with one lookup per reading.
    private struct Entry: Sendable {
        let id: SeriesID
        let set: Int32
        /// The (rule slot, tracker) pairs that are not quiet: most series never alert, and a
        /// quiet pair costs nothing.
        var trackers: [(slot: Int32, tracker: AlertTracker)] = []
        var lastSeen: EventTime?
        /// The event time of the newest reading: where evidence of an exceedance ends.
        var lastEvent: EventTime?
        var calibratingSince: EventTime?
        /// One per window the rule set reads.
        var caches: [WindowCache] = []
        /// Regulatory rules whose value is beyond the limit now, and since when.
        var exceeding: [(slot: Int32, since: EventTime)] = []

        /// With an alert pending or firing, or an exceedance open: a silence tick looks at it.
        var isEngaged: Bool { !trackers.isEmpty || !exceeding.isEmpty }

        func tracker(_ slot: Int) -> AlertTracker? {
            trackers.first { $0.slot == Int32(slot) }?.tracker
        }

        /// Notes a reading (`seen`: its arrival, nil for a retained copy) in one access to
        /// the entry; true when it is the entry's first sighting.
        mutating func note(_ reading: Reading, _ outcome: SeriesState.Outcome, seen: EventTime?) -> Bool {
            var first = false
            if let seen {
                first = lastSeen == nil
                lastSeen = max(lastSeen ?? seen, seen)
            }
            lastEvent = max(lastEvent ?? reading.time, reading.time)
            if reading.status == .calibrating {
                if calibratingSince == nil { calibratingSince = reading.time }
            } else if outcome != .late && outcome != .duplicate {
                calibratingSince = nil
            }
            return first
        }

        mutating func setTracker(_ slot: Int, _ tracker: AlertTracker?) {
            if let k = trackers.firstIndex(where: { $0.slot == Int32(slot) }) {
                if let tracker { trackers[k].tracker = tracker } else { trackers.remove(at: k) }
            } else if let tracker {
                trackers.append((Int32(slot), tracker))
            }
        }
    }
    private var sets: [RuleSet] = []
    private var setIndex: [[Int]: Int32] = [:]
    private var entries: [Entry] = []
    /// Which entries a silence tick must look at.
    private(set) var silence = SilenceWatch()
    /// Off: every tick looks at every entry and every reading evaluates every rule (for the
    /// tests that check that skipping what can only be clear changes nothing).
    var lazy = true
    /// Series → its entry (the ids are in `entries`).
    private var index = SlotIndex()
    /// Per reading: each read window's figures, computed on first use; valid while its
    /// stamp equals `evaluation` (reused storage, nothing released per reading). One array,
    /// not three: each write to an array checks that it is unique, per window and reading.
    private var computed: [Computed] = []
    private var evaluation: UInt64 = 0
    /// Exceedance spans that began or ended since `takeExceedances`.
    public private(set) var exceedances: [Exceedance] = []
    /// Changes when handles from `entry(for:)` are no longer valid (after `forget`).
    public private(set) var generation = 0
    /// The silence clock of sensors never seen starts here (kept across restarts and reloads).
    public let startedAt: EventTime

    /// `expected` lists sensors that should report: they go stale even if they never have.
    public init(rules: [Rule], expected: [SeriesID] = [], startedAt: EventTime) {
        self.rules = rules
        compiled = rules.map(CompiledRule.init)
        self.startedAt = startedAt
        for id in expected { _ = entry(for: id) }
    }

    /// The engine's handle on a series (created, with its matching rules resolved, on first
    /// use): callers that keep it skip the lookup by `SeriesID` on every reading. Handles stay
    /// valid until `forget`.
    public mutating func entry(for id: SeriesID) -> Int {
        if let known = find(id) { return known }
        let matching = Rule.indices(in: rules, matching: id)
        let set: Int32
        if let known = setIndex[matching] {
            set = known
        } else {
            set = Int32(sets.count)
            let silences = matching.compactMap { r -> Int64? in
                if case .stale(let after) = compiled[r].check { return after }
                return nil
            }
            let breachable = matching.indices.filter { slot in
                switch compiled[matching[slot]].check {
                case .stale, .outOfRange, .calibrating: false
                default: true
                }
            }
            sets.append(
                RuleSet(
                    rules: matching, all: Array(matching.indices), breachable: breachable,
                    shortestSilence: silences.min() ?? .max))
            setIndex[matching] = set
        }
        entries.append(Entry(id: id, set: set))
        index.insert(id, slot: Int32(entries.count - 1))
        noteSilence(entries.count - 1)
        return entries.count - 1
    }

    /// Entry `e` (outside the engaged) may go stale from when it was last seen: the silence
    /// bound comes down to that if it is earlier.
    private mutating func noteSilence(_ e: Int) {
        let set = Int(entries[e].set)
        guard sets[set].watchesSilence else { return }
        silence.lower(seen: (entries[e].lastSeen ?? startedAt).milliseconds, wait: sets[set].shortestSilence)
    }

    /// Keeps the engaged set in step with entry `e` after its trackers or exceedances changed
    /// from or to none.
    private mutating func noteEngaged(_ e: Int) {
        if silence.set(e, engaged: entries[e].isEngaged) { noteSilence(e) }
    }

    private mutating func setTracker(_ e: Int, _ slot: Int, _ tracker: AlertTracker?) {
        let was = entries[e].isEngaged
        entries[e].setTracker(slot, tracker)
        // Only a change from or to none moves the set: a firing alert steps on every reading.
        if entries[e].isEngaged != was { noteEngaged(e) }
    }

    private func find(_ id: SeriesID) -> Int? {
        index.slot(of: id) { entries[Int($0)].id }.map(Int.init)
    }

    private func ruleIndex(_ e: Int, _ slot: Int) -> Int { sets[Int(entries[e].set)].rules[slot] }

    /// The windows a rule set reads, resolved by name against the series' windows.
    private mutating func resolve(_ set: Int, _ state: borrowing SeriesState) {
        var reads: [Int] = []
        var readSlot: [Int] = []
        for r in sets[set].rules {
            guard let name = rules[r].windowName, let w = state.windows.firstIndex(where: { $0.spec.name == name })
            else {
                readSlot.append(-1)
                continue
            }
            if let known = reads.firstIndex(of: w) {
                readSlot.append(known)
            } else {
                reads.append(w)
                readSlot.append(reads.count - 1)
            }
        }
        sets[set].reads = reads
        sets[set].readSlot = readSlot
        sets[set].resolved = true
    }

    /// Evaluates the rules of `id` after one reading (with what became of it). `seen` is when
    /// it arrived, on the clock `tick` is given (the wall clock, or a replay's feed time), so a
    /// sensor whose own clock is off is still seen; nil (a retained message) is not a sign of life.
    public mutating func observe(
        _ id: SeriesID, reading: Reading, outcome: SeriesState.Outcome, state: borrowing SeriesState,
        at time: EventTime,
        seen: EventTime? = nil
    ) -> [AlertTransition] {
        var state = copy state
        return observe(entry: entry(for: id), reading: reading, outcome: outcome, state: &state, at: time, seen: seen)
    }

    /// As `observe(_:...)`, for a series' handle from `entry(for:)`. The state is only read; it
    /// is `inout` so that it is read where it lies: a borrowed element of the pipeline's table
    /// was copied (208 bytes and a retain of each of its buffers) for every reading, since the
    /// compiler cannot prove that nothing writes to it during the call.
    public mutating func observe(
        entry e: Int, reading: Reading, outcome: SeriesState.Outcome, state: inout SeriesState, at time: EventTime,
        seen: EventTime? = nil
    ) -> [AlertTransition] {
        // A later sighting only moves the silence further off; a first may bring it closer.
        if entries[e].note(reading, outcome, seen: seen) { noteSilence(e) }
        let set = Int(entries[e].set)
        guard !sets[set].rules.isEmpty else { return [] }
        if !sets[set].resolved { resolve(set, state) }
        let readCount = sets[set].reads.count
        if entries[e].caches.count != readCount {
            entries[e].caches = Array(repeating: WindowCache(), count: readCount)
        }
        evaluation &+= 1
        while computed.count < readCount { computed.append(Computed()) }
        var out: [AlertTransition] = []
        // No alert pending or firing and no exceedance open: a rule whose signal can only be
        // clear changes nothing, so it is not evaluated (a rule out of force, or outside its
        // hours, and the silence rules, which a reading always clears).
        // (`lazy` off: every rule is evaluated, for the tests that check the two agree.)
        let quiet = lazy && !entries[e].isEngaged
        // Nothing open and an accepted `ok` reading (nearly every one): only the rules that
        // can breach on it are judged; the others could only clear, which changes nothing.
        let onlyBreachable = quiet && outcome == .accepted && reading.status == .ok
        // By position, each slot read from the set: holding the list over the loop retained
        // and released it per reading.
        let count = onlyBreachable ? sets[set].breachable.count : sets[set].all.count
        for position in 0..<count {
            let slot = onlyBreachable ? sets[set].breachable[position] : sets[set].all[position]
            // By index: a copy of the compiled rule (over 100 bytes) per rule and reading showed.
            let r = sets[set].rules[slot]
            let active = compiled[r].isActive(at: time) && windowWithinHours(r, e, slot, &state)
            if quiet && (!active || compiled[r].check.isStale) { continue }
            guard let (evaluated, value, limit) = evaluate(r, e, slot, reading, outcome, &state, time) else {
                continue
            }
            let signal = active ? evaluated : .clear(value ?? 0)
            if compiled[r].countsExceedance { noteExceedance(e, slot, signal, at: time) }
            apply(e, slot, signal, value: value, limit: limit, at: time, into: &out)
        }
        return out
    }

    private mutating func noteExceedance(_ e: Int, _ slot: Int, _ signal: ConditionSignal, at time: EventTime) {
        let open = entries[e].exceeding.firstIndex { $0.slot == Int32(slot) }
        if case .breach = signal {
            guard open == nil else { return }
            entries[e].exceeding.append((Int32(slot), time))
            noteEngaged(e)
            exceedances.append(
                Exceedance(rule: rules[ruleIndex(e, slot)].id, series: entries[e].id, since: time, end: nil))
        } else if let open {
            let since = entries[e].exceeding.remove(at: open).since
            noteEngaged(e)
            exceedances.append(
                Exceedance(rule: rules[ruleIndex(e, slot)].id, series: entries[e].id, since: since, end: time))
        }
    }

    /// The spans open now (a reload carries them into the new engine).
    public var openExceedances: [Exceedance] {
        entries.flatMap { entry in
            entry.exceeding.map {
                Exceedance(
                    rule: rules[sets[Int(entry.set)].rules[Int($0.slot)]].id, series: entry.id, since: $0.since,
                    end: nil)
            }
        }
    }

    /// Open spans saved before a restart go on (the same span, not a second one from now).
    public mutating func restoreExceedances(_ open: [Exceedance]) {
        for span in open where span.end == nil {
            let e = entry(for: span.series)
            guard let slot = sets[Int(entries[e].set)].rules.firstIndex(where: { rules[$0].id == span.rule }),
                !entries[e].exceeding.contains(where: { $0.slot == Int32(slot) })
            else { continue }
            entries[e].exceeding.append((Int32(slot), span.since))
            noteEngaged(e)
        }
    }

    /// The exceedance spans begun or ended since the last call.
    public mutating func takeExceedances() -> [Exceedance] {
        defer { exceedances.removeAll(keepingCapacity: true) }
        return exceedances
    }

    /// How long a series may be silent before its open exceedances end at its last reading.
    public static let evidenceMilliseconds: Int64 = 5_400_000

    /// Checks the silence rules at `time`, series in the order they were first seen, and ends
    /// what a rule out of force no longer judges.
    public mutating func tick(at time: EventTime) -> [AlertTransition] {
        var out: [AlertTransition] = []
        // Entries in order, as a pass over all of them visits them (the transitions' order).
        // Sorted once: an entry that stops being engaged in the first loop lowers the bound, so
        // the second loop then goes over every entry anyway.
        let engagedInOrder = silence.inOrder
        let watched = lazy ? engagedInOrder : Array(entries.indices)
        // A rule out of force (QCVN 26's night at 06:00, a limit past its end date) resolves its
        // alert and ends its exceedance then, though no reading comes to say so: a night alert
        // whose sensor fell silent at 23:59 went on firing, and counting minutes, into the day.
        for e in watched where entries[e].isEngaged {
            let set = Int(entries[e].set)
            // Minutes in exceedance need evidence: after 90 minutes without a reading (an hourly
            // station's gap, and half as much again for jitter) the span ends at the last one;
            // the next breach opens a new one.
            // Silence is measured on the arrival clock; the span ends on the event clock, at the
            // newest reading's own time (a backlog's readings are older than their arrival).
            if let seen = entries[e].lastSeen, let last = entries[e].lastEvent,
                time.milliseconds - seen.milliseconds >= Self.evidenceMilliseconds
            {
                for (slot, since) in entries[e].exceeding {
                    noteExceedance(e, Int(slot), .clear(0), at: max(since, last))
                }
            }
            // Rules judge readings by their own time: "now" for this series is its newest
            // reading's time moved on by the silence since it arrived (a backlog replayed after
            // 06:00 is still night, and does not flap).
            guard let seen = entries[e].lastSeen, let last = entries[e].lastEvent else { continue }
            let now = EventTime(milliseconds: last.milliseconds + max(0, time.milliseconds - seen.milliseconds))
            for slot in sets[set].rules.indices {
                let rule = compiled[sets[set].rules[slot]]
                guard !rule.check.isStale, !rule.isActive(at: now) else { continue }
                let firing = entries[e].tracker(slot) != nil
                let exceeding = entries[e].exceeding.contains { $0.slot == Int32(slot) }
                guard firing || exceeding else { continue }
                if exceeding { noteExceedance(e, slot, .clear(0), at: now) }
                apply(e, slot, .clear(0), value: nil, limit: nil, at: now, into: &out)
            }
        }
        // Before the silence bound a stale rule can only be clear for the entries not engaged,
        // and a clear signal changes nothing without a tracker: only the engaged are looked at.
        let full = !lazy || silence.isDue(at: time.milliseconds)
        let silenceWatched = full ? Array(entries.indices) : engagedInOrder
        for e in silenceWatched where sets[Int(entries[e].set)].watchesSilence {
            let seen = entries[e].lastSeen ?? startedAt
            let silentMilliseconds = time.milliseconds - seen.milliseconds
            let silent = Double(silentMilliseconds) / 1000
            let set = Int(entries[e].set)
            for slot in sets[set].rules.indices {
                guard case .stale(let after) = compiled[sets[set].rules[slot]].check else { continue }
                let signal: ConditionSignal = silentMilliseconds >= after ? .breach(silent) : .clear(silent)
                apply(e, slot, signal, value: silent, limit: Double(after) / 1000, at: time, into: &out)
            }
        }
        if full {
            silence.startRecount()
            for e in entries.indices where !entries[e].isEngaged { noteSilence(e) }
        }
        return out
    }

    /// A rule limited to hours of the day (QCVN 26's night) judges a window only once all of it
    /// lies in those hours: at 21:05 the night rule's rolling hour still holds evening traffic.
    private func windowWithinHours(_ r: Int, _ e: Int, _ slot: Int, _ state: inout SeriesState) -> Bool {
        guard compiled[r].hasHours else { return true }
        let set = Int(entries[e].set)
        let read = sets[set].readSlot[slot]
        guard read >= 0, let now = state.watermark else { return true }
        let spec = state.windowSpec(sets[set].reads[read])
        let first = spec.bucketStart(now) - (spec.lengthMilliseconds - spec.bucketMilliseconds)
        return compiled[r].isActive(at: EventTime(milliseconds: first))
    }

    /// Where the figures of the window rule `slot` of entry `e` reads are, in `computed`, as
    /// of the series' newest time; nil without one, or when the rule requires a valid window
    /// and it is not. Read them through `figures(_:_:)`, which does not copy them.
    private mutating func windowRead(_ r: Int, _ e: Int, _ slot: Int, _ state: inout SeriesState) -> Int? {
        let set = Int(entries[e].set)
        let read = sets[set].readSlot[slot]
        guard read >= 0, let now = state.watermark else { return nil }
        if computed[read].at != evaluation || computed[read].under != compiled[r].validity {
            let validity = compiled[r].validity
            let stamp = evaluation
            state.withWindowInPlace(sets[set].reads[read]) { ring in
                Self.compute(
                    &computed[read], &entries[e].caches[read], &ring, at: now, validity: validity, stamp: stamp)
            }
        }
        if compiled[r].requireValid, let validity = computed[read].figures.validity, !validity.valid { return nil }
        return read
    }

    /// What `body` reads of the window figures at `read`, where they lie. Lent as a value,
    /// they were copied twice (the element, then its figures: 184 and 160 bytes) per window
    /// rule and reading; through the pointer only the fields read are loaded.
    private mutating func figures<T>(_ read: Int, _ body: (UnsafePointer<WindowStats>) -> T) -> T {
        withUnsafeMutablePointer(to: &computed[read].figures.stats) { body(UnsafePointer($0)) }
    }

    /// One read window's figures for the current evaluation.
    private struct Computed {
        var figures: (stats: WindowStats, validity: WindowValidity?) = (WindowStats(), nil)
        /// The evaluation they were computed for.
        var at: UInt64 = 0
        /// The validity rule they were assessed under: a rule with another reads them afresh
        /// (which rules are evaluated first depends on which can only clear).
        var under = ValidityRule()
    }

    /// Fills `computed` from `ring` through the entry's cache, in one access to each array.
    private static func compute(
        _ computed: inout Computed, _ cache: inout WindowCache, _ ring: inout BucketRing, at now: EventTime,
        validity: ValidityRule, stamp: UInt64
    ) {
        computed.under = validity
        cache.read(ring, at: now, quantiles: ring.keepsQuantiles, validity: validity, into: &computed.figures)
        computed.at = stamp
    }

    private mutating func evaluate(
        _ r: Int, _ e: Int, _ slot: Int, _ reading: Reading, _ outcome: SeriesState.Outcome,
        _ state: inout SeriesState, _ time: EventTime
    ) -> (ConditionSignal, Double?, Double?)? {
        switch compiled[r].check {
        case .reading(let above, let limit, let clear):
            guard outcome == .accepted else { return nil }
            return (Self.compare(reading.value, above: above, limit: limit, clear: clear), reading.value, limit)
        case .window(let statistic, let above, let limit, let clear):
            guard let k = windowRead(r, e, slot, &state), let value = figures(k, { statistic.value(at: $0) })
            else {
                return nil
            }
            return (Self.compare(value, above: above, limit: limit, clear: clear), value, limit)
        case .rateOfChange(let limit):
            guard let k = windowRead(r, e, slot, &state), let rate = figures(k, { $0.pointee.rateOfChange }) else {
                return nil
            }
            return (abs(rate) > limit ? .breach(rate) : .clear(rate), rate, limit)
        case .outOfRange:
            switch outcome {
            case .invalid: return (.breach(reading.value), reading.value, nil)
            case .accepted: return (.clear(reading.value), reading.value, nil)
            default: return nil
            }
        case .stale(let after):
            return (.clear(0), 0, Double(after) / 1000)
        case .flatline(let spread, let minCount):
            guard let k = windowRead(r, e, slot, &state) else { return nil }
            let (count, span) = figures(k) { ($0.pointee.count, $0.pointee.max - $0.pointee.min) }
            guard count >= minCount else { return nil }
            return (span <= spread ? .breach(span) : .clear(span), span, spread)
        case .completeness(let expected, let minShare):
            guard let k = windowRead(r, e, slot, &state) else { return nil }
            let share = Double(figures(k) { $0.pointee.count }) / Double(max(1, expected))
            return (share < minShare ? .breach(share) : .clear(share), share, minShare)
        case .counterReset:
            guard let k = windowRead(r, e, slot, &state) else { return nil }
            let resets = figures(k) { $0.pointee.resets }
            return (resets > 0 ? .breach(Double(resets)) : .clear(Double(resets)), Double(resets), 0)
        case .calibrating(let after):
            guard let since = entries[e].calibratingSince else {
                return outcome == .accepted ? (.clear(0), 0, Double(after) / 1000) : nil
            }
            let seconds = Double(time.milliseconds - since.milliseconds) / 1000
            return (
                time.milliseconds - since.milliseconds >= after ? .breach(seconds) : .hold(seconds), seconds,
                Double(after) / 1000
            )
        }
    }

    static func compare(_ value: Double, above: Bool, limit: Double, clear: Double) -> ConditionSignal {
        if above ? value > limit : value < limit { return .breach(value) }
        if above ? value <= clear : value >= clear { return .clear(value) }
        return .hold(value)
    }

    private mutating func apply(
        _ e: Int, _ slot: Int, _ signal: ConditionSignal, value: Double?, limit: Double?, at time: EventTime,
        into out: inout [AlertTransition]
    ) {
        let existing = entries[e].tracker(slot)
        // Quiet and clear: nothing to step, nothing to keep (the common case, no allocation).
        if existing == nil, case .clear = signal { return }
        var tracker = existing ?? AlertTracker()
        let r = ruleIndex(e, slot)
        let step = tracker.step(
            signal, at: time, forMilliseconds: compiled[r].forMilliseconds,
            renotifyMilliseconds: compiled[r].renotifyMilliseconds)
        // Quiet trackers go, so memory follows the alerts, not the series; recent ones stay for flapping.
        setTracker(e, slot, tracker.isQuiet ? nil : tracker)
        guard let step else { return }
        let rule = rules[r]
        let id = entries[e].id
        let (state, repeated, since): (AlertTransition.State, Bool, EventTime)
        switch step {
        case .fired(let s): (state, repeated, since) = (.firing, false, s)
        case .renotified(let s): (state, repeated, since) = (.firing, true, s)
        case .resolved(let s): (state, repeated, since) = (.resolved, false, s)
        }
        var stat: String?
        if case .threshold(.window(_, let statistic), _, _, _) = rule.condition { stat = statistic.rawValue }
        // Appended here: an optional transition returned for every rule and reading was copied
        // twice (232 bytes) only to be found empty.
        out.append(
            AlertTransition(
                id: "\(rule.id)/\(id)/\(since.milliseconds)", state: state, repeated: repeated, rule: rule.id,
                severity: rule.severity, series: id, value: value, limit: limit, window: rule.windowName, stat: stat,
                at: time, since: since, reference: rule.reference,
                message: Self.message(rule, id, state: state, value: value, limit: limit, stat: stat)))
    }

    /// Every pending and firing pair, for the state snapshot.
    public var active: [ActiveAlert] {
        var result: [ActiveAlert] = []
        for entry in entries {
            for (slot, tracker) in entry.trackers.sorted(by: { $0.slot < $1.slot }) {
                guard tracker.phase != .idle else { continue }
                let rule = rules[sets[Int(entry.set)].rules[Int(slot)]]
                result.append(ActiveAlert(rule: rule.id, series: entry.id, phase: tracker.phase))
            }
        }
        return result
    }

    /// Puts saved alerts back: a firing one is not announced again and resolves as usual.
    /// Alerts of rules that no longer exist or no longer match are left out; their count is returned.
    @discardableResult
    public mutating func restore(_ alerts: [ActiveAlert]) -> Int {
        var skipped = 0
        for alert in alerts {
            let e = entry(for: alert.series)
            guard let slot = sets[Int(entries[e].set)].rules.firstIndex(where: { rules[$0].id == alert.rule }) else {
                skipped += 1
                continue
            }
            setTracker(e, slot, AlertTracker(restoring: alert.phase))
        }
        return skipped
    }

    /// When each series was last seen, on the arrival clock: saved, and carried into a rebuilt
    /// engine, so that a restart or a reload neither resolves a stale alert nor forgets a dead sensor.
    public var lastSeen: [(series: SeriesID, at: EventTime)] {
        entries.compactMap { entry in entry.lastSeen.map { (entry.id, $0) } }
    }

    /// Puts saved sightings back; restored series take part in stale rules from here on.
    public mutating func restoreSeen(_ seen: [(series: SeriesID, at: EventTime)]) {
        for (id, time) in seen {
            let e = entry(for: id)
            entries[e].lastSeen = max(entries[e].lastSeen ?? time, time)
            noteSilence(e)
        }
    }

    /// Drops what the engine keeps for series that are gone (evicted for silence); their
    /// alerts must already be quiet, since a series with an active alert is never evicted.
    public mutating func forget(_ ids: Set<SeriesID>) {
        guard !ids.isEmpty else { return }
        entries.removeAll { ids.contains($0.id) }
        index = SlotIndex(count: entries.count) { entries[Int($0)].id }
        generation &+= 1
        silence.reset(engaged: entries.indices.filter { entries[$0].isEngaged })
    }

    /// Whether any rule of `id` is pending or firing (or recently was, for flapping).
    public func isActive(_ id: SeriesID) -> Bool {
        guard let e = find(id) else { return false }
        return !entries[e].trackers.isEmpty
    }

    /// The alerts firing now, oldest episode first.
    public var firing: [(rule: String, series: SeriesID, since: EventTime)] {
        var result: [(rule: String, series: SeriesID, since: EventTime)] = []
        for entry in entries {
            for (slot, tracker) in entry.trackers {
                if case .firing(let since, _) = tracker.phase {
                    result.append((rules[sets[Int(entry.set)].rules[Int(slot)]].id, entry.id, since))
                }
            }
        }
        return result.sorted { ($0.since, $0.rule, $0.series.description) < ($1.since, $1.rule, $1.series.description) }
    }
}
