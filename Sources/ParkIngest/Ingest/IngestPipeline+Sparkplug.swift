import Sparkplug
import TelemetryCore
import UplinkWire

/// The pipeline's Sparkplug B side: DATA and BIRTH through the host stage into the same
/// stages as any reading, the offline alerts of a DEATH, and the host's status and state.
extension IngestPipeline {
    /// A Sparkplug B message: the host stage keeps the edge node's state and names each
    /// metric's series; its readings then take the same stages as any other. A DEATH makes its
    /// series stale at once (an alert each), a BIRTH resolves them.
    func ingestSparkplug(
        topic: String, payload: UnsafeBufferPointer<UInt8>, route r: Int, arrival: EventTime, retained: Bool,
        in state: inout State
    ) -> Int {
        let parsed: SparkplugTopic
        switch SparkplugTopic.parse(topic) {
        case .success(let found): parsed = found
        case .failure(let error):
            reject(.badTopic, topic: topic, arrival: arrival, in: &state, detail: error.detail)
            return 0
        }
        guard payload.count <= settings.routes[r].decoder.maxBytes else {
            reject(
                .tooLarge, topic: topic, arrival: arrival, in: &state,
                detail: "payload of \(payload.count) bytes is over the limit of \(settings.routes[r].decoder.maxBytes)")
            return 0
        }
        // Sparkplug forbids retaining BIRTH, DATA and DEATH: a retained copy (replayed at every
        // resubscribe) would rewind the node's sequence or kill it again.
        if retained && parsed.type != .state {
            state.sparkplug.noteRetained()
            return 0
        }
        let decoded: SparkplugPayload
        if parsed.type == .state {
            decoded = SparkplugPayload()  // JSON of another host: nothing to read
        } else {
            switch SparkplugPayload.decode(Array(payload)) {
            case .success(let found): decoded = found
            case .failure(let error):
                reject(.malformed, topic: topic, arrival: arrival, in: &state, detail: error.detail)
                return 0
            }
        }
        let catalog = settings.catalog
        let out = state.sparkplug.handle(
            parsed, decoded, arrival: arrival, mapping: settings.routes[r].sparkplug!,
            kinds: settings.routes[r].kindAliases, pillar: { catalog[$0]?.pillar })
        if let (reason, detail) = out.refused {
            reject(reason, topic: topic, arrival: arrival, in: &state, detail: detail)
        }
        state.counted.readings += out.readings.count
        var opened = 0
        var queued = 0
        var text = topic
        text.withUTF8 { topic in
            for (id, reading, historical) in out.readings {
                // A historical value says nothing of whether the node lives now (as a retained copy).
                queued += take(
                    reading, id: id, slot: state.table[id] ?? -1, named: true, topic: topic, cached: -1,
                    arrival: arrival, retained: historical, opened: &opened, in: &state)
            }
        }
        var transitions: [AlertTransition] = []
        for id in out.died {
            transitions.append(
                Self.offlineTransition(id, state: .firing, since: out.diedAt ?? arrival, at: arrival, cause: out.cause))
        }
        for (id, since) in out.revived {
            transitions.append(
                Self.offlineTransition(id, state: .resolved, since: since, at: arrival, cause: "born again (BIRTH)"))
        }
        if !transitions.isEmpty { state.rules.enqueue(transitions, logger: logger) }
        return queued + transitions.count
    }

    /// The alert of a series whose Sparkplug node or device died: like a lost sensor's, at once.
    static func offlineTransition(
        _ id: SeriesID, state: AlertTransition.State, since: EventTime, at: EventTime, cause: String
    ) -> AlertTransition {
        AlertTransition(
            id: "\(sparkplugOfflineRule)/\(id)/\(since.milliseconds)", state: state, repeated: false,
            rule: sparkplugOfflineRule, severity: .warning, series: id, value: nil, limit: nil, window: nil, stat: nil,
            at: at, since: since, reference: "Sparkplug B 3.0: NDEATH/DDEATH",
            // Named like a rule's message: a node's death raises one per series, and the lines
            // must tell them apart.
            message: (state == .firing ? "offline: \(cause)" : "resolved: offline: \(cause)") + " at \(id)")
    }

    /// The rule name of the alerts a Sparkplug DEATH raises.
    public static let sparkplugOfflineRule = "sparkplug_offline"

    /// Edge nodes to send a Sparkplug rebirth request (NCMD) to, in order; taken once.
    public func takeRebirthRequests() -> [(group: String, node: String)] {
        state.withLock { $0.sparkplug.takeRequests().map { ($0.group, $0.node) } }
    }

    /// The Sparkplug host's figures: skipped metrics by reason, events, nodes and the series
    /// made stale by a DEATH.
    public var sparkplugStatus: SparkplugStatus {
        state.withLock { state in
            let counts = state.sparkplug.nodeCounts
            return SparkplugStatus(
                skipped: state.sparkplug.skipped.map { ($0.key.rawValue, $0.value) }.sorted { $0.0 < $1.0 },
                events: state.sparkplug.events.map { ($0.key.rawValue, $0.value) }.sorted { $0.0 < $1.0 },
                nodesOnline: counts.online, nodesOffline: counts.offline, offline: state.sparkplug.offline)
        }
    }

    /// The Sparkplug host's tables, sequence numbers and dead nodes, for the state file (nil
    /// when no Sparkplug node was seen).
    package var sparkplugState: SparkplugHost.Saved? {
        state.withLock { $0.sparkplug.isEmpty ? nil : $0.sparkplug.saved }
    }

    package func restoreSparkplug(_ saved: SparkplugHost.Saved) {
        let routes = settings.routes
        let catalog = settings.catalog
        state.withLock {
            $0.sparkplug.restore(
                saved,
                route: { group in
                    routes.first { $0.sparkplug?.reads(group: group) == true }.map { ($0.sparkplug!, $0.kindAliases) }
                }, pillar: { catalog[$0]?.pillar })
        }
    }
}

/// What `/metrics` and the API show of the Sparkplug host.
public struct SparkplugStatus: Sendable {
    public var skipped: [(reason: String, count: Int)]
    public var events: [(event: String, count: Int)]
    public var nodesOnline: Int
    public var nodesOffline: Int
    public var offline: [(series: SeriesID, since: EventTime)]
}
