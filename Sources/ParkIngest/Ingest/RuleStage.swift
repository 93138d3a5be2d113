import Logging
import TelemetryCore
import UplinkWire

/// Stage 5, rules: drives the rule engine after each reading and on the clock, and queues the
/// alert transitions for the writer. Each series keeps its engine handle, so a reading costs
/// no lookup by `SeriesID`; nothing is dropped from the queue.
package struct RuleStage {
    /// What SIGHUP can change without a restart.
    private(set) var rules: [Rule]
    private(set) var expected: [SeriesID]
    private(set) var engine: RuleEngine?
    /// Per series slot: its handle in the engine, or -1 until its first reading.
    private var handles: [Int32] = []
    private var generation = 0
    private(set) var alerts: [AlertTransition] = []
    private var alertQueuePeak = 0
    private(set) var transitions: [AlertTransition.State: Int] = [:]
    /// Past this many transitions waiting, parkd warns that the writer is behind.
    package let queueWarning: Int

    package init(rules: [Rule], expected: [SeriesID], queueWarning: Int) {
        self.rules = rules
        self.expected = expected
        self.queueWarning = queueWarning
    }

    package var isEmpty: Bool { rules.isEmpty }

    /// The engine, created on first use: its silence clock starts at `time`.
    private mutating func withEngine<T>(at time: EventTime, _ body: (inout RuleEngine) -> T) -> T {
        if engine == nil { engine = RuleEngine(rules: rules, expected: expected, startedAt: time) }
        return body(&engine!)
    }

    package mutating func opened(slot: Int32) {
        while handles.count <= Int(slot) { handles.append(-1) }
    }

    /// Evaluates the rules of series `s` after one reading; returns the transitions (queued too).
    package mutating func observe(
        slot s: Int, _ id: @autoclosure () -> SeriesID, reading: Reading, outcome: SeriesState.Outcome,
        state: inout SeriesState,
        arrival: EventTime, retained: Bool, logger: Logger
    ) -> [AlertTransition] {
        guard !rules.isEmpty else { return [] }
        let seen = retained ? nil : arrival
        if engine == nil { engine = RuleEngine(rules: rules, expected: expected, startedAt: arrival) }
        if engine!.generation != generation {
            generation = engine!.generation
            for k in handles.indices { handles[k] = -1 }
        }
        if handles[s] < 0 { handles[s] = Int32(engine!.entry(for: id())) }
        let out = engine!.observe(
            entry: Int(handles[s]), reading: reading, outcome: outcome, state: &state, at: reading.time, seen: seen)
        if !out.isEmpty { enqueue(out, logger: logger) }
        return out
    }

    /// Checks the rules that watch silence at `time` (the arrival clock).
    package mutating func tick(at time: EventTime, logger: Logger) -> [AlertTransition] {
        guard !rules.isEmpty else { return [] }
        let out = withEngine(at: time) { $0.tick(at: time) }
        if !out.isEmpty { enqueue(out, logger: logger) }
        return out
    }

    package mutating func enqueue(_ out: [AlertTransition], logger: Logger) {
        for transition in out {
            transitions[transition.state, default: 0] += 1
            alerts.append(transition)
        }
        if alerts.count > queueWarning && alerts.count > 2 * alertQueuePeak {
            logger.warning("\(alerts.count) alert transitions wait for the writer; none is dropped")
        }
        alertQueuePeak = max(alertQueuePeak, alerts.count)
    }

    /// The queued transitions, in order; the queue starts afresh.
    package mutating func takeAlerts() -> [AlertTransition] {
        defer { alerts.removeAll(keepingCapacity: true) }
        return alerts
    }

    /// Whether `takeExceedances` has spans to give.
    package var hasExceedances: Bool { engine?.exceedances.isEmpty == false }

    /// Regulatory exceedance spans begun or ended since the last call.
    package mutating func takeExceedances() -> [Exceedance] {
        guard hasExceedances else { return [] }
        return engine!.takeExceedances()
    }

    /// Open exceedance spans from before a restart continue.
    mutating func restoreExceedances(_ open: [Exceedance], at time: EventTime) {
        guard !rules.isEmpty else { return }
        withEngine(at: time) { $0.restoreExceedances(open) }
    }

    package func isActive(_ id: SeriesID) -> Bool { engine?.isActive(id) == true }

    /// Series evicted: their handles go and the engine forgets them.
    package mutating func remove(_ ids: Set<SeriesID>, kept: [Bool]) {
        handles = handles.compacted(kept)
        engine?.forget(ids)
    }

    /// Sightings saved with the windows: restored series take part in stale rules.
    package mutating func restoreSeen(_ seen: [(series: SeriesID, at: EventTime)], startedAt: EventTime) {
        guard !rules.isEmpty else { return }
        withEngine(at: startedAt) { $0.restoreSeen(seen) }
    }

    /// Saved alerts back; returns how many no longer apply.
    package mutating func restore(_ saved: [RuleEngine.ActiveAlert], at time: EventTime) -> Int {
        guard !rules.isEmpty else { return saved.count }
        return withEngine(at: time) { $0.restore(saved) }
    }

    /// New rules, inventory and limits from a reload. Sightings and the alerts of rules that
    /// remain carry over: a reload must not resolve a stale alert or forget a silent sensor.
    /// Returns how many active alerts no longer apply.
    package mutating func reload(rules: [Rule], expected: [SeriesID], at time: EventTime) -> Int {
        let active = engine?.active ?? []
        self.rules = rules
        self.expected = expected
        for k in handles.indices { handles[k] = -1 }
        guard !rules.isEmpty else {
            engine = nil
            return active.count
        }
        var fresh = RuleEngine(rules: rules, expected: expected, startedAt: engine?.startedAt ?? time)
        if let old = engine {
            fresh.restoreSeen(old.lastSeen)
            fresh.restoreExceedances(old.openExceedances)
        }
        let dropped = fresh.restore(active)
        engine = fresh
        generation = fresh.generation
        return dropped
    }

    /// Stale alerts firing now, by series: the park summaries count stale sensors.
    package var staleFiring: [SeriesID] {
        guard let engine else { return [] }
        return engine.firing.compactMap { alert in
            guard let rule = rules.first(where: { $0.id == alert.rule }), case .stale = rule.condition else {
                return nil
            }
            return alert.series
        }
    }
}
