import Logging
import MQTTClient
import Synchronization
import TelemetryCore

/// Topic → route and series, payload → readings, reading → the series' windows. Called on the
/// MQTT network thread for each message (or by replay); the common path is one dictionary
/// lookup on the topic, one decode into a reused buffer and the series' window updates,
/// under an uncontended lock.
public final class IngestPipeline: Sendable {
    /// What one sender may cost: no message, park or clock can take what the others need.
    public struct Limits: Sendable, Equatable {
        public var maxSeries: Int
        /// One park's share of `maxSeries`, so a flood from one park cannot lock out the others.
        public var maxSeriesPerPark: Int
        /// New series one message may open (a JSON object of thousands of numeric keys).
        public var maxNewSeriesPerMessage: Int
        /// Kinds outside the sensor catalog open no series unless allowed.
        public var allowUnknownKinds: Bool
        /// A series silent this long (on the arrival clock) is evicted with its state.
        public var seriesTTLMilliseconds: Int64
        /// Readings whose time is too far ahead of or behind their arrival are refused.
        public var time: TimeAdmission
        /// Topics longer or deeper than these are refused before any lookup (hostile input).
        public var maxTopicBytes: Int
        public var maxTopicLevels: Int
        public init(
            maxSeries: Int = 100_000, maxSeriesPerPark: Int = 20_000, maxNewSeriesPerMessage: Int = 64,
            allowUnknownKinds: Bool = false, seriesTTLMilliseconds: Int64 = 7 * 86_400_000,
            time: TimeAdmission = TimeAdmission(), maxTopicBytes: Int = 512, maxTopicLevels: Int = 16
        ) {
            self.maxSeries = maxSeries
            self.maxSeriesPerPark = maxSeriesPerPark
            self.maxNewSeriesPerMessage = maxNewSeriesPerMessage
            self.allowUnknownKinds = allowUnknownKinds
            self.seriesTTLMilliseconds = seriesTTLMilliseconds
            self.time = time
            self.maxTopicBytes = maxTopicBytes
            self.maxTopicLevels = maxTopicLevels
        }
    }

    public struct Settings: Sendable {
        public var routes: [TopicRoute]
        public var catalog: SensorCatalog
        public var windows: [WindowSpec]
        public var allowedLatenessMilliseconds: Int64
        public var limits: Limits
        public var validity: ValidityRule
        public var rules: [Rule] = []
        public var expectedSensors: [SeriesID] = []
        /// Park facts summaries need (area, green-area target).
        public var parks: [String: ParkSite] = [:]
        /// The park's local time, for EVN tariff periods.
        public var utcOffsetMinutes = 420
        /// How many summary schedules keep their own interval figures (1 m, 1 h, 1 d: 3).
        public var schedules = 1
        /// Past this many transitions waiting for the writer, parkd warns that it is behind.
        /// Nothing is dropped: a transition is a change of state of one (rule, series), so one
        /// tick makes at most rules × series of them, and the writer takes them every second.
        public var alertQueueWarning = 10_000

        public init(
            routes: [TopicRoute], catalog: SensorCatalog = .standard, windows: [WindowSpec] = WindowSpec.defaults(),
            allowedLatenessMilliseconds: Int64 = 300_000, limits: Limits = Limits(),
            validity: ValidityRule = ValidityRule(),
            rules: [Rule] = [], expectedSensors: [SeriesID] = [], parks: [String: ParkSite] = [:],
            utcOffsetMinutes: Int = 420,
            schedules: Int = 1
        ) {
            self.schedules = schedules
            self.parks = parks
            self.utcOffsetMinutes = utcOffsetMinutes
            self.validity = validity
            self.rules = rules
            self.expectedSensors = expectedSensors
            self.routes = routes
            self.catalog = catalog
            self.windows = windows
            self.allowedLatenessMilliseconds = allowedLatenessMilliseconds
            self.limits = limits
        }
    }

    /// One series' figures over the current interval.
    public struct SeriesInterval: Sendable, Equatable {
        public var readings = 0
        public var outcomes = SeriesState.Counts()
        public var last: Double = .nan
        public var lastTime = EventTime(milliseconds: 0)
        /// Accepted values over the interval.
        public var sum = 0.0
        public var count = 0
        /// For counters: the increase over the interval (resets handled), and its part in EVN peak hours.
        public var increase = 0.0
        public var peakTariffIncrease = 0.0

        mutating func record(
            _ outcome: SeriesState.Outcome, _ reading: Reading, increase delta: Double, peakTariff: Bool
        ) {
            readings += 1
            outcomes[outcome] += 1
            guard outcome == .accepted else { return }
            last = reading.value
            lastTime = reading.time
            sum += reading.value
            count += 1
            increase += delta
            if peakTariff { peakTariffIncrease += delta }
        }
    }

    public struct SeriesReport: Sendable {
        public var id: SeriesID
        public var interval: SeriesInterval
        public var shape: MeasureShape
        /// Each window's statistics and validity as of the series' newest event time.
        public var windows: [(name: String, stats: WindowStats, validity: WindowValidity?)]
    }

    public struct Snapshot: Sendable {
        public var counters: IngestCounters
        public var series: [SeriesReport]
        public var seriesTotal: Int
        /// Per park and pillar (filled by `takeInterval(from:to:)`).
        public var parks: [ParkSummary] = []
    }

    private struct TopicEntry {
        static let unknown = TopicEntry(route: -1, base: nil)
        var route: Int32
        var base: SeriesID?
        /// The series of a reading without a field name; -1 before its first reading.
        var slot: Int32 = -1
    }

    private struct State: ~Copyable {
        var topics: [String: TopicEntry] = [:]
        var seriesSlots: [SeriesID: Int32] = [:]
        var series: [SeriesID] = []
        var states: [SeriesState] = []
        var kinds: [KindInfo?] = []
        /// Per series: when a reading last arrived (not its event time), for eviction.
        var lastArrival: [Int64] = []
        /// Series per park, for `maxSeriesPerPark`.
        var parkSeries: [String: Int] = [:]
        var lastSweep: Int64?
        var evictedTotal = 0
        /// Per schedule, per series.
        var intervals: [[SeriesInterval]] = []
        /// Per schedule.
        var interval: [IngestCounters] = []
        var total = IngestCounters()
        var scratch: [Reading] = []
        var badInput: BadInputLog
        var engine: RuleEngine?
        /// What SIGHUP can change without a restart.
        var rules: [Rule] = []
        var expected: [SeriesID] = []
        var limits = Limits()
        var validity = ValidityRule()
        var alerts: [AlertTransition] = []
        var alertQueuePeak = 0
        var transitions: [AlertTransition.State: Int] = [:]
        /// The newest event time of any accepted reading: the clock silence is measured on
        /// when traffic runs ahead of the wall clock (a simulator at speed, a replay).
        var newest = EventTime(milliseconds: .min)
        /// Per series: the last accepted counter value, and its share of its park's 15-minute demand.
        var lastCounter: [Double?] = []
        var meterDemand: [Double] = []
        /// Per park: the sum of its meters' 15-minute means, and its highest value this interval.
        var demand: [String: (total: Double, peaks: [Double?])] = [:]
        /// Regulatory alert episodes, for minutes in exceedance.
        var episodes: [String: (series: SeriesID, since: EventTime, end: EventTime?)] = [:]
    }

    private static let overLimit: Int32 = -2

    public let settings: Settings
    private let maxCachedTopics: Int
    private let state: Mutex<State>
    private let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        maxCachedTopics = settings.limits.maxSeries * 2 + 10_000
        var initial = State(badInput: BadInputLog(logger: logger))
        initial.rules = settings.rules
        initial.expected = settings.expectedSensors
        initial.limits = settings.limits
        initial.validity = settings.validity
        initial.intervals = Array(repeating: [], count: max(1, settings.schedules))
        initial.interval = Array(repeating: IngestCounters(), count: max(1, settings.schedules))
        state = Mutex(initial)
    }

    public func ingest(_ message: MQTTMessage, arrival: EventTime) {
        ingest(topic: message.topic, payload: message.payload, arrival: arrival, retained: message.retain)
    }

    /// Takes one message. `arrival` is the time a reading without its own takes, and the
    /// clock its time is checked against; a `retained` message is the broker's copy of an old
    /// one, so it is no sign that the sensor lives.
    public func ingest(topic: String, payload: [UInt8], arrival: EventTime, retained: Bool = false) {
        state.withLock { state in
            for k in state.interval.indices { state.interval[k].messages += 1 }
            let bytes = topic.utf8.count
            let limits = state.limits
            if bytes > limits.maxTopicBytes
                || (bytes > 2 * limits.maxTopicLevels
                    && topic.utf8.lazy.filter({ $0 == UInt8(ascii: "/") }).count >= limits.maxTopicLevels)
            {
                reject(
                    .topicTooLong, topic: topic, arrival: arrival, in: &state,
                    detail:
                        "topic of \(bytes) bytes is over limits.max_topic_bytes (\(limits.maxTopicBytes)) or limits.max_topic_levels (\(limits.maxTopicLevels))"
                )
                return
            }
            var entry: TopicEntry
            if let cached = state.topics[topic] {
                entry = cached
            } else {
                if let problem = Self.topicProblem(topic) {
                    reject(.badTopic, topic: topic, arrival: arrival, in: &state, detail: problem)
                    return
                }
                entry = lookUp(topic, in: &state)
            }
            guard entry.route >= 0, let base = entry.base else {
                reject(
                    .unknownTopic, topic: topic, arrival: arrival, in: &state,
                    detail: "topic matches no configured pattern")
                return
            }
            let routeIndex = Int(entry.route)
            state.scratch.removeAll(keepingCapacity: true)
            do throws(PayloadError) {
                try settings.routes[routeIndex].decoder.decode(payload, arrival: arrival, into: &state.scratch)
            } catch {
                reject(
                    RejectReason(error.reason), topic: topic, arrival: arrival, in: &state,
                    detail: "\(error.detail); payload: \(String(decoding: payload.prefix(160), as: UTF8.self))")
                return
            }
            for k in state.interval.indices { state.interval[k].readings += state.scratch.count }
            var opened = 0
            for index in state.scratch.indices {
                let reading = state.scratch[index]
                var slot: Int32
                var id = base
                if let field = reading.field {
                    id.kind = settings.routes[routeIndex].kind(forField: field)
                    slot = state.seriesSlots[id] ?? -1
                } else {
                    slot = entry.slot
                }
                // Admit: a time the series' clock can trust, and a retained copy only with its own time.
                let refused =
                    retained && !reading.timed ? .retained : state.limits.time.check(reading.time, arrival: arrival)
                if let refused {
                    for k in state.interval.indices {
                        state.interval[k].outcomes[refused] += 1
                        if slot >= 0 {
                            state.intervals[k][Int(slot)].record(refused, reading, increase: 0, peakTariff: false)
                        }
                    }
                    if refused != .retained {
                        state.badInput.record(
                            refused.rawValue, topic: topic,
                            detail: { "reading of \(id) at \(reading.time) arrived at \(arrival)" },
                            nowMilliseconds: arrival.milliseconds)
                    }
                    continue
                }
                if slot < 0 {
                    if let problem = admissionProblem(id, named: reading.field != nil, opened: opened, in: state) {
                        reject(problem.reason, topic: topic, arrival: arrival, in: &state, detail: problem.detail())
                        continue
                    }
                    slot = self.slot(for: id, arrival: arrival, in: &state)
                    opened += 1
                    if reading.field == nil {
                        entry.slot = slot
                        if state.topics.count < maxCachedTopics || state.topics[topic] != nil {
                            state.topics[topic] = entry
                        }
                    }
                }
                let normalised: Reading
                do throws(PayloadError) {
                    normalised = try SensorCatalog.normalise(reading, info: state.kinds[Int(slot)])
                } catch {
                    reject(.badUnit, topic: topic, arrival: arrival, in: &state, detail: error.detail)
                    continue
                }
                let s = Int(slot)
                let outcome = state.states[s].add(normalised)
                if !retained { state.lastArrival[s] = max(state.lastArrival[s], arrival.milliseconds) }
                if !state.rules.isEmpty {
                    if state.engine == nil {
                        state.engine = RuleEngine(rules: state.rules, expected: state.expected, startedAt: arrival)
                    }
                    let transitions = state.engine!.observe(
                        id, reading: normalised, outcome: outcome, state: state.states[s], at: normalised.time,
                        seen: retained ? nil : arrival)
                    if !transitions.isEmpty { enqueue(transitions, in: &state) }
                }
                let tariffPeak =
                    outcome == .accepted && state.states[s].settings.shape == .counter
                    && EVNTariff.period(at: normalised.time, utcOffsetMinutes: settings.utcOffsetMinutes) == .peak
                var delta = 0.0
                if outcome == .accepted && state.states[s].settings.shape == .counter {
                    if let previous = state.lastCounter[s] {
                        delta = normalised.value >= previous ? normalised.value - previous : normalised.value
                    }
                    state.lastCounter[s] = normalised.value
                }
                for k in state.interval.indices {
                    state.interval[k].outcomes[outcome] += 1
                    state.intervals[k][s].record(outcome, normalised, increase: delta, peakTariff: tariffPeak)
                }
                if outcome == .accepted {
                    if normalised.time > state.newest { state.newest = normalised.time }
                    if id.kind == "active_power",
                        let ring = state.states[s].windows.first(where: { $0.spec.name == "15m" })
                    {
                        let mean = ring.stats(at: normalised.time, quantiles: false).mean
                        var park = state.demand[id.park] ?? (0, Array(repeating: nil, count: state.interval.count))
                        park.total += mean - state.meterDemand[s]
                        for k in park.peaks.indices { park.peaks[k] = max(park.peaks[k] ?? park.total, park.total) }
                        state.meterDemand[s] = mean
                        state.demand[id.park] = park
                    }
                }
            }
        }
    }

    private func enqueue(_ transitions: [AlertTransition], in state: inout State) {
        for transition in transitions where transition.reference != nil && !transition.repeated {
            if transition.state == .firing {
                state.episodes[transition.id] = (transition.series, transition.since, nil)
            } else {
                state.episodes[transition.id]?.end = transition.at
            }
        }
        for transition in transitions {
            state.transitions[transition.state, default: 0] += 1
            state.alerts.append(transition)
        }
        if state.alerts.count > settings.alertQueueWarning && state.alerts.count > 2 * state.alertQueuePeak {
            logger.warning("\(state.alerts.count) alert transitions wait for the writer; none is dropped")
        }
        state.alertQueuePeak = max(state.alertQueuePeak, state.alerts.count)
    }

    /// Checks the rules that watch silence, and evicts series silent past their time-to-live,
    /// as of `time` on the arrival clock (the wall clock in `run`, the feed's `t` in replay).
    public func tick(at time: EventTime) {
        state.withLock { state in
            if state.lastSweep.map({ time.milliseconds - $0 >= 60_000 || time.milliseconds < $0 }) ?? true {
                state.lastSweep = time.milliseconds
                evictSilent(at: time, in: &state)
            }
            guard !state.rules.isEmpty else { return }
            if state.engine == nil {
                state.engine = RuleEngine(rules: state.rules, expected: state.expected, startedAt: time)
            }
            let transitions = state.engine!.tick(at: time)
            if !transitions.isEmpty { enqueue(transitions, in: &state) }
        }
    }

    /// A topic parkd refuses to look up: MQTT forbids U+0000 and wildcards in a published
    /// topic, and control characters would reach logs and terminals.
    static func topicProblem(_ topic: String) -> String? {
        for scalar in topic.unicodeScalars {
            switch scalar.value {
            case 0: return "topic holds U+0000, which MQTT forbids"
            case 0x01..<0x20, 0x7f..<0xa0: return "topic holds control character U+\(String(scalar.value, radix: 16))"
            case 0x2b, 0x23: return "topic holds the wildcard '\(Character(scalar))'"
            case 0xfffd: return "topic is not valid UTF-8"
            default: continue
            }
        }
        return nil
    }

    /// Why a series may not open for `id`, or nil when it may.
    /// `named`: the kind came from a name in the payload (checked; a topic's levels are checked
    /// with the topic).
    private func admissionProblem(_ id: SeriesID, named: Bool, opened: Int, in state: borrowing State) -> (
        reason: RejectReason, detail: () -> String
    )? {
        let limits = state.limits
        // Checked when a series would open: a name that already names one passed this before.
        if named && !FieldName.isValid(id.kind) {
            return (.badName, { "reading name '\(id.kind)' is not [A-Za-z0-9][A-Za-z0-9:./_-]* of up to 64 bytes" })
        }
        if !limits.allowUnknownKinds && settings.catalog[id.kind] == nil {
            return (
                .unknownKind,
                {
                    "kind '\(id.kind)' of \(id) is not in the sensor catalog (add it under catalog:, map it under kinds:, or set limits.allow_unknown_kinds)"
                }
            )
        }
        if opened >= limits.maxNewSeriesPerMessage {
            return (
                .messageSeriesLimit,
                {
                    "one message opens more than \(limits.maxNewSeriesPerMessage) new series (limits.max_new_series_per_message); \(id) refused"
                }
            )
        }
        if state.parkSeries[id.park, default: 0] >= limits.maxSeriesPerPark {
            return (
                .parkSeriesLimit,
                {
                    "park '\(id.park)' has \(limits.maxSeriesPerPark) series (limits.max_series_per_park); \(id) refused"
                }
            )
        }
        if state.series.count >= limits.maxSeries {
            return (.seriesLimit, { "new series \(id) past the limit of \(limits.maxSeries) (limits.max_series)" })
        }
        return nil
    }

    /// Evicts series silent longer than the time-to-live. A series is kept while it has
    /// figures in an open summary interval, an active alert, or is an expected sensor.
    private func evictSilent(at time: EventTime, in state: inout State) {
        let ttl = state.limits.seriesTTLMilliseconds
        let expected = Set(state.expected)
        var gone: [Int] = []
        for index in state.series.indices where time.milliseconds - state.lastArrival[index] > ttl {
            let id = state.series[index]
            if state.intervals.contains(where: { $0[index].readings > 0 }) || expected.contains(id)
                || state.engine?.isActive(id) == true
            {
                continue
            }
            gone.append(index)
        }
        guard !gone.isEmpty else { return }
        let goneSet = Set(gone)
        var ids = Set<SeriesID>()
        for index in gone {
            let id = state.series[index]
            ids.insert(id)
            state.parkSeries[id.park, default: 1] -= 1
            if state.meterDemand[index] != 0 { state.demand[id.park]?.total -= state.meterDemand[index] }
        }
        func keep<T>(_ array: [T]) -> [T] { array.enumerated().filter { !goneSet.contains($0.offset) }.map(\.element) }
        state.series = keep(state.series)
        state.states = keep(state.states)
        state.kinds = keep(state.kinds)
        state.lastArrival = keep(state.lastArrival)
        state.lastCounter = keep(state.lastCounter)
        state.meterDemand = keep(state.meterDemand)
        for k in state.intervals.indices { state.intervals[k] = keep(state.intervals[k]) }
        state.seriesSlots = Dictionary(
            uniqueKeysWithValues: state.series.enumerated().map { ($0.element, Int32($0.offset)) })
        // Cached slots moved: the cache fills again on the next messages.
        state.topics.removeAll(keepingCapacity: true)
        state.engine?.forget(ids)
        state.evictedTotal += gone.count
        logger.notice(
            "evicted \(gone.count) series silent for more than \(TimeText.format(Double(ttl) / 1000)) (limits.series_ttl)",
            metadata: ["examples": "\(ids.prefix(3).map { LogSafe.text($0.description) }.sorted())"])
    }

    /// The alert transitions since the last call, in order: every one of them.
    public func takeAlerts() -> [AlertTransition] {
        state.withLock { state in
            defer { state.alerts.removeAll(keepingCapacity: true) }
            return state.alerts
        }
    }

    static let snapshotMagic: [UInt8] = Array("PTWS".utf8)
    /// 2 adds when each series last arrived and when the rule engine started (liveness);
    /// version 1 files are still read, their series taken as seen when the snapshot was saved.
    static let snapshotVersion: UInt8 = 2

    /// Every series' window state as bytes: versioned and checksummed. The states are copied
    /// under the lock (cheap: copy on write) and encoded outside it, so ingest waits little.
    public func snapshot(at time: EventTime) -> [UInt8] {
        let (series, states, counters, arrivals, started) = state.withLock {
            ($0.series, $0.states, $0.lastCounter, $0.lastArrival, $0.engine?.startedAt)
        }
        var w = ByteWriter()
        for byte in Self.snapshotMagic { w.u8(byte) }
        w.u8(Self.snapshotVersion)
        w.i64(time.milliseconds)
        w.bool(started != nil)
        w.i64(started?.milliseconds ?? 0)
        w.int(series.count)
        for index in series.indices {
            let id = series[index]
            w.string(id.park)
            w.string(id.zone)
            w.string(id.pillar.rawValue)
            w.string(id.kind)
            w.string(id.sensor)
            w.bool(counters[index] != nil)
            w.double(counters[index] ?? 0)
            w.i64(arrivals[index])
            states[index].encode(&w)
        }
        var bytes = w.bytes
        let checksum = fnv1a64(bytes)
        withUnsafeBytes(of: checksum.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Restores a snapshot into an empty pipeline; returns the series restored and when the
    /// snapshot was taken. A torn, corrupt or foreign file throws and changes nothing.
    public func restore(snapshot bytes: [UInt8]) throws(SnapshotError) -> (series: Int, savedAt: EventTime) {
        guard bytes.count >= 8 + Self.snapshotMagic.count + 1 else { throw SnapshotError("file too short") }
        let body = Array(bytes[..<(bytes.count - 8)])
        var trailer = ByteReader(Array(bytes[(bytes.count - 8)...]))
        guard try trailer.u64() == fnv1a64(body) else { throw SnapshotError("checksum mismatch (torn or corrupted)") }
        var r = ByteReader(body)
        for byte in Self.snapshotMagic {
            guard try r.u8() == byte else { throw SnapshotError("not a window snapshot") }
        }
        let version = try r.u8()
        guard version == 1 || version == Self.snapshotVersion else {
            throw SnapshotError("snapshot version \(version); this parkd reads 1 and \(Self.snapshotVersion)")
        }
        guard let saved = EventTime(checkedMilliseconds: try r.i64()) else { throw SnapshotError("bad time") }
        var started: EventTime?
        if version >= 2 {
            let hasStart = try r.bool()
            let start = try r.i64()
            if hasStart {
                guard let time = EventTime(checkedMilliseconds: start) else { throw SnapshotError("bad time") }
                started = time
            }
        }
        let count = try r.count(max: state.withLock { $0.limits.maxSeries })
        var restored: [(SeriesID, Double?, Int64, SeriesState)] = []
        for _ in 0..<count {
            let park = try r.string()
            let zone = try r.string()
            guard let pillar = Pillar(rawValue: try r.string()) else {
                throw SnapshotError("unknown pillar in snapshot")
            }
            let id = SeriesID(park: park, zone: zone, pillar: pillar, kind: try r.string(), sensor: try r.string())
            let hasCounter = try r.bool()
            let counter = try r.double()
            var arrival = saved.milliseconds
            if version >= 2 {
                arrival = try r.i64()
                guard EventTime.representable.contains(arrival) else { throw SnapshotError("bad time") }
            }
            let seriesState = try SeriesState(
                decoding: &r, windows: settings.windows, settings: seriesSettings(for: id), version: version)
            restored.append((id, hasCounter ? counter : nil, arrival, seriesState))
        }
        guard r.atEnd else { throw SnapshotError("trailing bytes in snapshot") }
        state.withLock { state in
            var seen: [(series: SeriesID, at: EventTime)] = []
            for (id, counter, arrival, seriesState) in restored {
                let slot = self.slot(for: id, arrival: EventTime(milliseconds: arrival), in: &state)
                guard slot >= 0 else { continue }
                state.states[Int(slot)] = seriesState
                state.lastCounter[Int(slot)] = counter
                seen.append((id, EventTime(milliseconds: arrival)))
            }
            // Restored series take part in stale rules: one that died before the restart is
            // reported, and a firing stale alert stays firing instead of resolving.
            guard !state.rules.isEmpty else { return }
            if state.engine == nil {
                state.engine = RuleEngine(rules: state.rules, expected: state.expected, startedAt: started ?? saved)
            }
            state.engine!.restoreSeen(seen)
        }
        return (restored.count, saved)
    }

    private func seriesSettings(for id: SeriesID) -> SeriesState.Settings {
        var seriesSettings = SeriesState.Settings()
        seriesSettings.allowedLatenessMilliseconds = settings.allowedLatenessMilliseconds
        if let info = settings.catalog[id.kind] {
            seriesSettings.shape = info.shape
            seriesSettings.range = info.range
        }
        return seriesSettings
    }

    /// Applies what a reloaded configuration may change while running: rules (active alerts
    /// of rules that remain keep their episodes), the sensor inventory and the limits.
    public func reload(rules: [Rule], expectedSensors: [SeriesID], limits: Limits, at time: EventTime) -> Int {
        state.withLock { state in
            let active = state.engine?.active ?? []
            state.rules = rules
            state.expected = expectedSensors
            state.limits = limits
            guard !rules.isEmpty else {
                state.engine = nil
                return active.count
            }
            // Sightings carry over: a reload must not resolve a stale alert or forget a silent sensor.
            var engine = RuleEngine(
                rules: rules, expected: expectedSensors, startedAt: state.engine?.startedAt ?? time)
            if let old = state.engine { engine.restoreSeen(old.lastSeen) }
            let dropped = engine.restore(active)
            state.engine = engine
            return dropped
        }
    }

    /// Figures for metrics and health, read in one lock.
    public struct Status: Sendable {
        public var totals: IngestCounters
        public var series: Int
        public var firingAlerts: Int
        public var alertQueue: Int
        public var transitions: [AlertTransition.State: Int]
        public var seriesEvicted: Int
        /// The newest event time of an accepted reading, if any.
        public var newest: EventTime?
    }

    public var status: Status {
        state.withLock { state in
            var total = state.total
            total.add(state.interval[0])
            let firing = state.engine?.firing.count ?? 0
            return Status(
                totals: total, series: state.series.count, firingAlerts: firing,
                alertQueue: state.alerts.count, transitions: state.transitions, seriesEvicted: state.evictedTotal,
                newest: state.newest.milliseconds == .min ? nil : state.newest)
        }
    }

    /// One series' windows as JSON (the HTTP API), or nil when the series is unknown.
    public func windowsJSON(_ id: SeriesID) -> String? {
        state.withLock { state in
            guard let slot = state.seriesSlots[id] else { return nil }
            let series = state.states[Int(slot)]
            guard let now = series.watermark else { return "{}" }
            var line = JSONLine()
            for ring in series.windows {
                line.addRaw(
                    ring.spec.name,
                    SummaryFormat.window(
                        ring.stats(at: now), shape: series.settings.shape,
                        validity: state.validity.assess(ring, at: now)))
            }
            return line.finished()
        }
    }

    /// Pending and firing alerts, for the state snapshot.
    public var activeAlerts: [RuleEngine.ActiveAlert] {
        state.withLock { $0.engine?.active ?? [] }
    }

    /// Restores saved alerts; returns how many no longer apply.
    public func restoreAlerts(_ alerts: [RuleEngine.ActiveAlert], at time: EventTime) -> Int {
        state.withLock { state in
            guard !state.rules.isEmpty else { return alerts.count }
            if state.engine == nil {
                state.engine = RuleEngine(rules: state.rules, expected: state.expected, startedAt: time)
            }
            return state.engine!.restore(alerts)
        }
    }

    /// An episode of a rule that cites a regulation: what minutes in exceedance count.
    public struct Episode: Sendable, Equatable {
        public var id: String
        public var series: SeriesID
        public var since: EventTime
        public var end: EventTime?
        public init(id: String, series: SeriesID, since: EventTime, end: EventTime?) {
            self.id = id
            self.series = series
            self.since = since
            self.end = end
        }
    }

    /// Regulatory episodes still counted by a summary schedule, for the alert state file.
    public var episodes: [Episode] {
        state.withLock { state in
            state.episodes.map {
                Episode(id: $0.key, series: $0.value.series, since: $0.value.since, end: $0.value.end)
            }
            .sorted { $0.id < $1.id }
        }
    }

    /// Puts saved episodes back, so that minutes in exceedance go on counting after a restart.
    public func restoreEpisodes(_ episodes: [Episode]) {
        state.withLock { state in
            for e in episodes where state.episodes[e.id] == nil { state.episodes[e.id] = (e.series, e.since, e.end) }
        }
    }

    /// The alerts firing now.
    public var firingAlerts: [(rule: String, series: SeriesID, since: EventTime)] {
        state.withLock { $0.engine?.firing ?? [] }
    }

    private func lookUp(_ topic: String, in state: inout State) -> TopicEntry {
        var entry = TopicEntry.unknown
        for (index, route) in settings.routes.enumerated() {
            if let id = route.pattern.match(topic) {
                entry = TopicEntry(route: Int32(index), base: id)
                break
            }
        }
        // Bounded: a flood of distinct bogus topics must not grow memory without end.
        if state.topics.count < maxCachedTopics { state.topics[topic] = entry }
        return entry
    }

    private func slot(for id: SeriesID, arrival: EventTime, in state: inout State) -> Int32 {
        if let existing = state.seriesSlots[id] { return existing }
        guard state.series.count < state.limits.maxSeries else { return Self.overLimit }
        let slot = Int32(state.series.count)
        state.kinds.append(settings.catalog[id.kind])
        state.lastArrival.append(arrival.milliseconds)
        state.parkSeries[id.park, default: 0] += 1
        let seriesSettings = self.seriesSettings(for: id)
        state.series.append(id)
        state.lastCounter.append(nil)
        state.meterDemand.append(0)
        state.states.append(SeriesState(windows: settings.windows, settings: seriesSettings))
        for k in state.intervals.indices { state.intervals[k].append(SeriesInterval()) }
        state.seriesSlots[id] = slot
        return slot
    }

    private func reject(
        _ reason: RejectReason, topic: String, arrival: EventTime, in state: inout State,
        detail: @autoclosure () -> String
    ) {
        for k in state.interval.indices { state.interval[k].rejected[reason, default: 0] += 1 }
        state.badInput.record(reason.rawValue, topic: topic, detail: detail, nowMilliseconds: arrival.milliseconds)
    }

    /// The current interval's figures, with each reporting series' windows and, given the
    /// interval's bounds, the per-park and per-pillar summaries; starts a new interval.
    public func takeInterval(schedule k: Int = 0, from: EventTime? = nil, to: EventTime? = nil) -> Snapshot {
        state.withLock { state in
            var parks: [ParkSummary] = []
            if let from, let to { parks = parkSummaries(&state, schedule: k, from: from, to: to) }
            var series: [SeriesReport] = []
            for (index, interval) in state.intervals[k].enumerated() where interval.readings > 0 {
                let seriesState = state.states[index]
                let windows = seriesState.windows.map { ring in
                    guard let now = seriesState.watermark else {
                        return (name: ring.spec.name, stats: WindowStats(), validity: WindowValidity?.none)
                    }
                    return (
                        name: ring.spec.name, stats: ring.stats(at: now),
                        validity: settings.validity.assess(ring, at: now)
                    )
                }
                series.append(
                    SeriesReport(
                        id: state.series[index], interval: interval, shape: seriesState.settings.shape,
                        windows: windows))
                state.intervals[k][index] = SeriesInterval()
            }
            let counters = state.interval[k]
            // Totals follow the first schedule, so that nothing is counted twice.
            if k == 0 { state.total.add(counters) }
            state.interval[k] = IngestCounters()
            if k == 0 { state.badInput.flushSuppressed() }
            return Snapshot(counters: counters, series: series, seriesTotal: state.series.count, parks: parks)
        }
    }

    /// Must run before the interval's series figures are reset.
    private func parkSummaries(_ state: inout State, schedule k: Int, from: EventTime, to: EventTime) -> [ParkSummary] {
        var builders: [ParkPillar: ParkSummary.Builder] = [:]
        for (index, id) in state.series.enumerated() {
            builders[ParkPillar(park: id.park, pillar: id.pillar), default: .init()].add(id, state.intervals[k][index])
        }
        for id in state.expected {
            builders[ParkPillar(park: id.park, pillar: id.pillar), default: .init()].expected += 1
        }
        if let engine = state.engine {
            for alert in engine.firing {
                guard let rule = state.rules.first(where: { $0.id == alert.rule }), case .stale = rule.condition else {
                    continue
                }
                builders[ParkPillar(park: alert.series.park, pillar: alert.series.pillar)]?.staleSensors.insert(
                    alert.series)
            }
        }
        for (id, episode) in state.episodes {
            let start = max(episode.since, from)
            let end = min(episode.end ?? to, to)
            if end > start {
                let key = ParkPillar(park: episode.series.park, pillar: episode.series.pillar)
                builders[key, default: .init()].exceedanceMilliseconds[episode.series.kind, default: 0] +=
                    end.milliseconds - start.milliseconds
            }
            // Kept until the longest schedule has counted it.
            if let ended = episode.end, ended <= to, k == state.interval.count - 1 { state.episodes[id] = nil }
        }
        for (park, demand) in state.demand {
            builders[ParkPillar(park: park, pillar: .energy)]?.peakDemand = demand.peaks[k]
            state.demand[park]?.peaks[k] = nil
        }
        return builders.sorted { ($0.key.park, $0.key.pillar.rawValue) < ($1.key.park, $1.key.pillar.rawValue) }.map {
            $0.value.build(park: $0.key.park, pillar: $0.key.pillar, site: settings.parks[$0.key.park])
        }
    }

    /// Counts since start, the current interval included.
    public var totals: IngestCounters {
        state.withLock { state in
            var total = state.total
            total.add(state.interval[0])
            return total
        }
    }

    public var seriesCount: Int { state.withLock { $0.series.count } }

    /// The state of one series, for inspection.
    public func seriesState(_ id: SeriesID) -> SeriesState? {
        state.withLock { state in state.seriesSlots[id].map { state.states[Int($0)] } }
    }
}
