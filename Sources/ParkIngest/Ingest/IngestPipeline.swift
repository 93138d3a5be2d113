import Logging
import Synchronization
import TelemetryCore
import UplinkWire

/// The one path a message takes, in stages, each a small type in its own file:
/// route (`TopicRouter`) → decode (`PayloadDecoder`) → admit (`Admission`) → series
/// (`SeriesTable`) → rules (`RuleStage`) → park accounting (`ParkAccounting`); the outputs
/// (summary and alert lines) take what the stages leave. Called on the MQTT network thread
/// for each message (or by replay) under an uncontended lock; the common path is one
/// dictionary lookup on the topic, one decode into a reused buffer, the series' window
/// updates and the rules compiled for that series.
public final class IngestPipeline: Sendable {

    struct State: ~Copyable {
        package var router: TopicRouter
        package var table: SeriesTable
        package var rules: RuleStage
        package var compliance: ComplianceStage
        package var feed: RegulatorFeedStage
        package var history: HistoryStage
        package var sparkplug: SparkplugHost
        package var accounting: ParkAccounting
        package var limits: Limits
        package var validity: ValidityRule
        package var scratch: [Reading] = []
        package var badInput: BadInputLog
        package var lastSweep: Int64?
        /// Snapshots being written: eviction waits (their slots must stay put).
        package var savingSnapshot = 0
        package var evictedTotal = 0
        /// Everything counted since start. One set of counters, not one per schedule, on the
        /// path of every message: a schedule's interval is what was counted since it began.
        package var counted = IngestCounters()
        /// Per schedule: `counted` when its interval began.
        package var intervalStart: [IngestCounters]
        /// The newest event time of any accepted reading: the clock silence is measured on
        /// when traffic runs ahead of the wall clock (a simulator at speed, a replay).
        package var newest = EventTime(milliseconds: .min)

        /// Series stale now: a stale rule fires for them, or their Sparkplug node or device died.
        var staleSeries: [SeriesID] { rules.staleFiring + sparkplug.offline.map(\.series) }
    }

    public let settings: Settings
    private let admission: Admission
    /// Per route: whether its payloads are Sparkplug's (read per message; the route's optional
    /// mapping was copied to be compared with nil).
    private let sparkplugRoutes: [Bool]
    let state: Mutex<State>
    let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        admission = Admission(catalog: settings.catalog)
        sparkplugRoutes = settings.routes.map { $0.sparkplug != nil }
        let schedules = max(1, settings.schedules)
        state = Mutex(
            State(
                router: TopicRouter(routes: settings.routes, maxCached: settings.limits.maxSeries * 2 + 10_000),
                table: SeriesTable(
                    windows: settings.windows, catalog: settings.catalog,
                    allowedLatenessMilliseconds: settings.allowedLatenessMilliseconds,
                    quantileWindows: settings.quantileWindows, detailWindows: settings.detailWindows,
                    energyWindows: settings.energyWindows),
                rules: RuleStage(
                    rules: settings.rules.filter { !$0.complianceOnly }, expected: settings.expectedSensors,
                    queueWarning: settings.alertQueueWarning),
                compliance: ComplianceStage(
                    rules: settings.rules, schedules: schedules, validity: settings.validity,
                    utcOffsetMinutes: settings.utcOffsetMinutes, policy: settings.compliance),
                feed: RegulatorFeedStage(
                    stations: settings.feedStations, cycleMilliseconds: settings.feedCycleMilliseconds,
                    graceMilliseconds: settings.feedGraceMilliseconds, utcOffsetMinutes: settings.utcOffsetMinutes),
                history: HistoryStage(
                    resolutionMilliseconds: settings.historyResolutionMilliseconds,
                    utcOffsetMinutes: settings.utcOffsetMinutes),
                sparkplug: SparkplugHost(settings: settings.sparkplug),
                accounting: ParkAccounting(
                    schedules: schedules, utcOffsetMinutes: settings.utcOffsetMinutes, meterRoles: settings.meterRoles,
                    tariffs: TariffCalendar(schedules: settings.tariffs, utcOffsetMinutes: settings.utcOffsetMinutes)),
                limits: settings.limits, validity: settings.validity, badInput: BadInputLog(logger: logger),
                intervalStart: Array(repeating: IngestCounters(), count: schedules)))
    }

    /// Takes one message. `arrival` is the time a reading without its own takes, and the
    /// clock its time is checked against; a `retained` message is the broker's copy of an old
    /// one, so it is no sign that the sensor lives. Returns how many alert transitions it queued.
    @discardableResult
    public func ingest(topic: String, payload: [UInt8], arrival: EventTime, retained: Bool = false) -> Int {
        var topic = topic
        return topic.withUTF8 { topic in
            payload.withUnsafeBufferPointer { payload in
                ingest(topic: topic, payload: payload, arrival: arrival, retained: retained)
            }
        }
    }

    /// As `ingest(topic:payload:arrival:retained:)`, reading the topic's UTF-8 bytes (checked
    /// here) and the payload in place, in the caller's buffers: nothing is copied or allocated
    /// on the common path. `topicHash`, when the caller has it, is the topic's
    /// `TopicIndex.hash` (a replay's reader hashed it to find its shard), and `topicAlias` the
    /// caller's own number for this topic (see `TopicRouter.route`), or -1. `decoded` is the
    /// payload as a replay's reader decoded it ahead: the caller must have decoded this payload
    /// with `settings.routes[route].decoder` at this `arrival`; it is taken only when `route`
    /// is the route the topic takes here, else the payload is decoded again.
    @discardableResult
    public func ingest(
        topic: UnsafeBufferPointer<UInt8>, topicHash: UInt32? = nil, topicAlias: Int32 = -1,
        payload: UnsafeBufferPointer<UInt8>, decoded: Predecoded? = nil, arrival: EventTime, retained: Bool = false
    ) -> Int {
        state.withLock { state in
            state.counted.messages += 1
            // Route.
            let entry: TopicRouter.Entry
            switch state.router.route(topic, hash: topicHash, alias: topicAlias, limits: state.limits) {
            case .success(let found): entry = found
            case .failure(.refused(let reason, let detail)):
                reject(reason, topic: Self.text(topic), arrival: arrival, in: &state, detail: detail)
                return 0
            }
            // Read in place: a copy of the route would retain its pattern, decoder and aliases per message.
            let r = Int(entry.route)
            if sparkplugRoutes[r] {
                return ingestSparkplug(
                    topic: Self.text(topic), payload: payload, route: r, arrival: arrival, retained: retained,
                    in: &state)
            }
            // Decode.
            // Readings decoded ahead are read where they lie, not copied into `scratch`.
            var ahead: UnsafeBufferPointer<Reading>?
            do throws(PayloadError) {
                // In place: a copy of the decoder retains its field names per message.
                switch decoded {
                case .readings(let route, let readings)? where route == r: ahead = readings
                case .failed(let route, let error)? where route == r: throw error
                default:
                    state.scratch.removeAll(keepingCapacity: true)
                    try settings.routes.withUnsafeBufferPointer { (routes) throws(PayloadError) in
                        try routes[r].decoder.decode(payload, arrival: arrival, into: &state.scratch)
                    }
                }
            } catch {
                reject(
                    RejectReason(error.reason), topic: Self.text(topic), arrival: arrival, in: &state,
                    detail: "\(error.detail); payload: \(String(decoding: payload.prefix(160), as: UTF8.self))")
                return 0
            }
            let count = ahead?.count ?? state.scratch.count
            state.counted.readings += count
            var opened = 0
            var queued = 0
            if let ahead {
                // Read where they lie: a copy of each reading (its unit and field retained) showed.
                for index in 0..<count {
                    queued += take(ahead[index], entry, topic, arrival, retained, &opened, &state)
                }
            } else {
                for index in 0..<count {
                    let reading = state.scratch[index]
                    queued += take(reading, entry, topic, arrival, retained, &opened, &state)
                }
            }
            return queued
        }
    }

    /// One reading of a message whose topic the router found as `entry` (which names a series:
    /// `TopicRouter.route` refuses the others).
    private func take(
        _ reading: Reading, _ entry: TopicRouter.Entry, _ topic: UnsafeBufferPointer<UInt8>, _ arrival: EventTime,
        _ retained: Bool, _ opened: inout Int, _ state: inout State
    ) -> Int {
        guard let field = reading.field else {
            // The id is read from the router's box only where a stage needs it (a new series,
            // a refusal): a copy of its four strings per reading showed in profiles. The box
            // too is taken only there: held from here, it was retained and released per reading.
            return take(
                reading, id: entry.named!.id, slot: entry.slot, named: false, topic: topic, cached: entry.cached,
                arrival: arrival, retained: retained, opened: &opened, in: &state)
        }
        var id = entry.named!.id
        let r = Int(entry.route)
        id.kind = settings.routes.withUnsafeBufferPointer { $0[r].kind(forField: field) }
        return take(
            reading, id: id, slot: state.table[id] ?? -1, named: true, topic: topic, cached: entry.cached,
            arrival: arrival, retained: retained, opened: &opened, in: &state)
    }

    /// A message's payload decoded before it reached the pipeline, for route `route` (an index
    /// in `settings.routes`), with the message's arrival time: its readings, or why it failed.
    public enum Predecoded {
        case readings(route: Int, UnsafeBufferPointer<Reading>)
        case failed(route: Int, PayloadError)
    }

    /// A topic's bytes as text, for a log line or a rejection (bytes that are not UTF-8 show as U+FFFD).
    static func text(_ topic: UnsafeBufferPointer<UInt8>) -> String { String(decoding: topic, as: UTF8.self) }

    /// Stages 3 to 6 for one decoded reading of series `id` (`slot` -1 when not yet known);
    /// `cached` is its topic's place in the router's cache (where the series of its unnamed
    /// readings is remembered), or -1. Returns the alert transitions queued.
    func take(
        _ reading: Reading, id: @autoclosure () -> SeriesID, slot known: Int32, named: Bool,
        topic: UnsafeBufferPointer<UInt8>,
        cached: Int32, arrival: EventTime, retained: Bool, opened: inout Int, in state: inout State
    ) -> Int {
        var slot = known
        // Admit: a time the series' clock can trust, a retained copy only with its own time.
        if let refused = Admission.refusal(reading, arrival: arrival, retained: retained, limits: state.limits) {
            state.counted.outcomes[refused] += 1
            if slot >= 0 {
                state.accounting.refused(slot: Int(slot), refused)
                state.table.records[Int(slot)].recent.readings &+= 1
            }
            if refused != .retained {
                state.badInput.record(
                    refused.rawValue, topic: Self.text(topic),
                    detail: { "reading of \(id()) at \(reading.time) arrived at \(arrival)" },
                    nowMilliseconds: arrival.milliseconds)
            }
            return 0
        }
        if slot < 0 {
            let id = id()
            if let problem = admission.openingProblem(
                id, named: named, openedByMessage: opened,
                parkSeries: state.table.parkSeries[id.park, default: 0], totalSeries: state.table.count,
                limits: state.limits)
            {
                reject(problem.reason, topic: Self.text(topic), arrival: arrival, in: &state, detail: problem.detail())
                return 0
            }
            slot = open(id, arrival: arrival, in: &state)
            opened += 1
            if !named { state.router.remember(cached: cached, slot: slot) }
        }
        let s = Int(slot)
        // Nearly every reading is in its series' unit already: it goes on as it lies (a
        // normalised copy retained and released its unit and field).
        if state.table.keepsUnit(s, reading.unit) {
            return take(normalised: reading, id: id(), slot: s, arrival: arrival, retained: retained, in: &state)
        }
        let normalised: Reading
        do throws(PayloadError) {
            normalised = try Admission.normalise(reading, info: state.table.kind(s))
        } catch {
            reject(.badUnit, topic: Self.text(topic), arrival: arrival, in: &state, detail: error.detail)
            return 0
        }
        return take(normalised: normalised, id: id(), slot: s, arrival: arrival, retained: retained, in: &state)
    }

    /// Stages 4 to 6 for an admitted reading in its series' unit, of the series at slot `s`.
    private func take(
        normalised: Reading, id: @autoclosure () -> SeriesID, slot s: Int, arrival: EventTime, retained: Bool,
        in state: inout State
    ) -> Int {
        // Series.
        let outcome = state.table.states[s].add(normalised)
        state.table.note(s, outcome, normalised, arrival: retained ? nil : arrival.milliseconds)
        state.counted.outcomes[outcome] += 1
        if outcome == .accepted && normalised.time > state.newest { state.newest = normalised.time }
        // Rules.
        // The state in place (`inout`, though only read): see `RuleEngine.observe(entry:...)`.
        let transitions = state.rules.observe(
            slot: s, id(), reading: normalised, outcome: outcome, state: &state.table.states[s], arrival: arrival,
            retained: retained, logger: logger)
        // Compliance periods (regulatory rules on clock hours, days and years).
        // Too late for the rolling windows is not too late for a regulatory period:
        // those keep their own lateness and revisions.
        if !state.compliance.isEmpty
            && (outcome == .accepted || (outcome == .late && state.table.settings(s).admits(normalised)))
        {
            state.compliance.observe(
                slot: s, id(), normalised, arrival: arrival, decibels: state.table.settings(s).decibels)
        }
        if !state.feed.isEmpty { state.feed.observe(slot: s, id(), normalised, outcome) }
        if outcome == .accepted && state.history.enabled {
            state.history.observe(slot: s, id(), normalised)
        }
        // Park accounting.
        // Asked first: an empty array taken per reading was released per reading.
        if state.rules.hasExceedances { state.accounting.note(state.rules.takeExceedances()) }
        state.accounting.record(slot: s, outcome, normalised)
        return transitions.count
    }

    func open(_ id: SeriesID, arrival: EventTime, in state: inout State, restoring: SeriesState? = nil)
        -> Int32
    {
        if let known = state.table[id] { return known }
        let slot = state.table.open(id, arrival: arrival, state: restoring)
        state.rules.opened(slot: slot)
        state.compliance.opened(slot: slot)
        state.feed.opened(slot: slot)
        let kind = state.table.states[Int(slot)].settings
        state.history.opened(slot: slot, decibels: kind.decibels, counter: kind.shape == .counter)
        let settings = state.table.states[Int(slot)].settings
        state.accounting.opened(id, shape: settings.shape, decibels: settings.decibels)
        return slot
    }

    func reject(
        _ reason: RejectReason, topic: String, arrival: EventTime, in state: inout State,
        detail: @autoclosure () -> String
    ) {
        state.counted.rejected[reason, default: 0] += 1
        state.badInput.record(reason.rawValue, topic: topic, detail: detail, nowMilliseconds: arrival.milliseconds)
    }

    /// Checks the rules that watch silence, and evicts series silent past their time-to-live,
    /// as of `time` on the arrival clock (the wall clock in `run`, the feed's `t` in replay).
    @discardableResult
    public func tick(at time: EventTime) -> Int {
        state.withLock { state in
            if state.savingSnapshot == 0,
                state.lastSweep.map({ time.milliseconds - $0 >= 60_000 || time.milliseconds < $0 }) ?? true
            {
                state.lastSweep = time.milliseconds
                evictSilent(at: time, in: &state)
            }
            let transitions = state.rules.tick(at: time, logger: logger)
            if !state.sparkplug.isEmpty { state.sparkplug.tick(at: time) }
            return transitions.count
        }
    }

    /// Evicts series silent longer than the time-to-live. A series is kept while it has
    /// figures in an open summary interval, an active alert (a rule's, or its dead Sparkplug
    /// node's), or is an expected sensor.
    private func evictSilent(at time: EventTime, in state: inout State) {
        let ttl = state.limits.seriesTTLMilliseconds
        let expected = Set(state.rules.expected)
        let offline = Set(state.sparkplug.offline.map(\.series))
        let gone = state.table.silent(at: time, ttl: ttl) {
            [accounting = state.accounting, table = state.table, rules = state.rules] index in
            let id = table.ids[index]
            return accounting.hasOpenFigures(index) || expected.contains(id) || rules.isActive(id)
                || offline.contains(id)
        }
        guard !gone.isEmpty else { return }
        let ids = Set(gone.map { state.table.ids[$0] })
        let before = state.table.ids
        let kept = state.table.remove(gone)
        state.accounting.remove(gone, ids: before, kept: kept)
        state.rules.remove(ids, kept: kept)
        state.compliance.remove(kept: kept)
        state.feed.remove(kept: kept)
        state.history.remove(kept: kept, ids: before)
        // Cached slots moved: the cache fills again on the next messages.
        state.router.forgetSlots()
        state.evictedTotal += gone.count
        logger.notice(
            "evicted \(gone.count) series silent for more than \(TimeText.format(Double(ttl) / 1000)) (limits.series_ttl)",
            metadata: ["examples": "\(ids.prefix(3).map { LogSafe.text($0.description) }.sorted())"])
    }

    /// The alert transitions since the last call, in order: every one of them.
    public func takeAlerts() -> [AlertTransition] {
        state.withLock { $0.rules.takeAlerts() }
    }

    /// Applies what a reloaded configuration may change while running: rules (active alerts
    /// of rules that remain keep their episodes), the sensor inventory and the limits.
    public func reload(rules: [Rule], expectedSensors: [SeriesID], limits: Limits, at time: EventTime) -> Int {
        state.withLock { state in
            state.limits = limits
            state.router.forgetSlots()  // topics are checked again against the new limits
            state.compliance.reload(rules: rules)
            let dropped = state.rules.reload(
                rules: rules.filter { !$0.complianceOnly }, expected: expectedSensors, at: time)
            // Spans of rules that are gone end now; the others carried over into the new engine.
            state.accounting.endSpans(except: state.rules.engine?.openExceedances ?? [], at: time)
            return dropped
        }
    }
}
