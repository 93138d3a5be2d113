import Sparkplug
import TelemetryCore

/// Stage 2 for Sparkplug B routes: parkd as a Sparkplug host application that consumes data.
/// Per edge node it keeps what the BIRTH messages said (each alias's metric and data type),
/// the sequence number, and whether the node and its devices are alive; it turns DATA into
/// readings, a DEATH into the series it makes stale, and asks for a rebirth when the table
/// cannot be trusted (DATA before BIRTH, an unknown alias, a sequence gap that the reorder
/// timeout did not close). Pure: times are handed in, and the rebirth requests wait in a
/// queue for the gateway to publish.
package struct SparkplugHost {
    package let settings: Settings
    private(set) var nodes: [NodeKey: Node] = [:]
    private(set) var requests: [NodeKey] = []
    /// The nodes in `requests`: one request per node waits, however long the broker is away.
    private var queued = Set<NodeKey>()
    private(set) var skipped: [SparkplugSkip: Int] = [:]
    private(set) var events: [Event: Int] = [:]
    /// Nodes that sent DATA before any NBIRTH, and when a rebirth was last asked of them
    /// (bounded: `maxUnknown`).
    private var unknown: [NodeKey: Int64] = [:]
    static let maxUnknown = 1_000
    /// Which node table owns each series: one series, one source.
    private var owners: [SeriesID: String] = [:]

    package init(settings: Settings) { self.settings = settings }

    /// A rebirth request for a node parkd holds no table of, at most once per interval.
    private mutating func askUnknown(_ key: NodeKey, at now: Int64) {
        guard settings.requestRebirth else {
            events[.rebirthNeeded, default: 0] += 1
            return
        }
        if let last = unknown[key], now - last < settings.rebirthIntervalMilliseconds, now >= last { return }
        guard unknown[key] != nil || unknown.count < Self.maxUnknown else { return }
        unknown[key] = now
        // Counted once per request sent: one already waiting (the broker away) is not another.
        if queued.insert(key).inserted {
            requests.append(key)
            events[.rebirthRequested, default: 0] += 1
        }
    }

    /// Takes the series of a new table for its source; a series another source owns is
    /// refused in it (counted as a collision), so one node cannot write into another's series.
    private mutating func claim(_ table: Table, _ topic: SparkplugTopic) -> Table {
        var table = table
        let source = "\(topic.group)/\(topic.node)/\(topic.device ?? "")"
        var taken = Set<SeriesID>()
        for k in table.defs.indices {
            guard let series = table.defs[k].series else { continue }
            if owners[series].map({ $0 != source }) ?? false || taken.contains(series) {
                events[.collision, default: 0] += 1
                table.defs[k].series = nil
                table.defs[k].skip = "collision:\(series)"
                continue
            }
            owners[series] = source
            taken.insert(series)
        }
        return table
    }

    package mutating func noteRetained() { events[.retained, default: 0] += 1 }

    /// A table being replaced gives up its series.
    private mutating func release(_ table: Table) {
        for series in table.series { owners[series] = nil }
    }

    package var isEmpty: Bool { nodes.isEmpty }

    /// Takes one message of a route's groups. `pillar` gives a kind's catalog pillar.
    package mutating func handle(
        _ topic: SparkplugTopic, _ payload: SparkplugPayload, arrival: EventTime, mapping: SparkplugMapping,
        kinds: [String: String], pillar: (String) -> Pillar?
    ) -> Outcome {
        var out = Outcome()
        let key = NodeKey(group: topic.group, node: topic.node)
        switch topic.type {
        case .ncmd, .dcmd, .state:
            events[.command, default: 0] += 1
            return out
        default: break
        }
        if nodes[key] == nil {
            // A DEATH of a node never seen says nothing: no state is made for it.
            if topic.type == .ndeath || topic.type == .ddeath {
                events[.staleDeath, default: 0] += 1
                return out
            }
            // Nothing but an NBIRTH makes a node: DATA of an unknown node only asks for one
            // (in a bounded set), so a flood of invented node ids holds no state.
            guard topic.type == .nbirth else {
                events[.dataBeforeBirth, default: 0] += 1
                askUnknown(key, at: arrival.milliseconds)
                out.refused = (
                    .missingField,
                    "\(topic.type.rawValue) from \(topic.group)/\(topic.node) before its NBIRTH: its aliases are unknown; a rebirth is asked for"
                )
                return out
            }
            guard nodes.count < settings.maxNodes else {
                out.refused = (
                    .seriesLimit, "edge node \(topic.group)/\(topic.node) past the limit of \(settings.maxNodes) nodes"
                )
                return out
            }
            // A request made before its first NBIRTH counts toward the node's rebirth interval.
            var fresh = Node()
            fresh.lastRequest = unknown.removeValue(forKey: key)
            nodes[key] = fresh
        }
        var node = nodes[key]!
        defer {
            pump(&node, key, at: arrival.milliseconds)
            nodes[key] = node
        }
        switch topic.type {
        case .nbirth:
            events[.nodeBirth, default: 0] += 1
            let revived = node.own.diedAt.map { at in node.own.series.map { ($0, EventTime(milliseconds: at)) } } ?? []
            node.bdSeq = Self.bdSeq(payload)
            node.seq = payload.seq.map { UInt8(truncatingIfNeeded: $0) } ?? 0
            node.missing = []
            node.gapDeadline = nil
            node.wantsRebirth = false
            // Devices re-birth after their node: until they do, their aliases are unknown.
            for name in node.devices.keys {
                node.devices[name]!.alive = false
                node.devices[name]!.byAlias = [:]
            }
            release(node.own)
            node.own = claim(Self.table(payload, topic: topic, mapping: mapping, kinds: kinds, pillar: pillar), topic)
            node.own.alive = true
            out.revived = revived
            readings(payload, table: node.own, into: &out, arrival: arrival)
        case .ndeath:
            let bdSeq = Self.bdSeq(payload)
            guard node.own.alive, bdSeq == node.bdSeq else {
                events[.staleDeath, default: 0] += 1
                return out
            }
            events[.nodeDeath, default: 0] += 1
            node.own.alive = false
            node.own.diedAt = arrival.milliseconds
            out.died = node.own.series
            // Devices awaiting their DBIRTH after a rebirth die with the node too.
            for name in node.devices.keys.sorted() where node.devices[name]!.diedAt == nil {
                node.devices[name]!.alive = false
                node.devices[name]!.diedAt = arrival.milliseconds
                out.died += node.devices[name]!.series
            }
            node.seq = nil
            node.missing = []
            node.gapDeadline = nil
            out.diedAt = arrival
            out.cause = "edge node \(topic.group)/\(topic.node) died (NDEATH, bdSeq \(bdSeq.map(String.init) ?? "-"))"
        case .dbirth, .ddeath, .ndata, .ddata:
            guard node.own.alive, node.seq != nil else {
                events[.dataBeforeBirth, default: 0] += 1
                node.wantsRebirth = true
                out.refused = (
                    .missingField,
                    "\(topic.type.rawValue) from \(topic.group)/\(topic.node) before its NBIRTH: its aliases are unknown; a rebirth is asked for"
                )
                return out
            }
            sequence(&node, payload.seq, arrival: arrival.milliseconds)
            let device = topic.device ?? ""
            switch topic.type {
            case .dbirth:
                let before = node.devices[device]
                guard before != nil || node.devices.count < settings.maxDevicesPerNode else {
                    out.refused = (
                        .seriesLimit,
                        "edge node \(topic.group)/\(topic.node) births more than \(settings.maxDevicesPerNode) devices; \(device) refused"
                    )
                    return out
                }
                events[.deviceBirth, default: 0] += 1
                if let before { release(before) }
                var table = claim(
                    Self.table(payload, topic: topic, mapping: mapping, kinds: kinds, pillar: pillar), topic)
                table.alive = true
                node.devices[device] = table
                if let before, let at = before.diedAt {
                    out.revived = before.series.map { ($0, EventTime(milliseconds: at)) }
                }
                readings(payload, table: table, into: &out, arrival: arrival)
            case .ddeath:
                guard var table = node.devices[device], table.alive else {
                    events[.staleDeath, default: 0] += 1
                    return out
                }
                events[.deviceDeath, default: 0] += 1
                table.alive = false
                table.diedAt = arrival.milliseconds
                node.devices[device] = table
                out.died = table.series
                out.diedAt = arrival
                out.cause = "device \(topic.group)/\(topic.node)/\(device) died (DDEATH)"
            case .ndata:
                if readings(payload, table: node.own, into: &out, arrival: arrival) { node.wantsRebirth = true }
            default:
                guard let table = node.devices[device], table.alive else {
                    events[.dataBeforeBirth, default: 0] += 1
                    node.wantsRebirth = true
                    out.refused = (
                        .missingField,
                        "DDATA from \(topic.group)/\(topic.node)/\(device) before its DBIRTH; a rebirth is asked for"
                    )
                    return out
                }
                if readings(payload, table: table, into: &out, arrival: arrival) { node.wantsRebirth = true }
            }
        case .ncmd, .dcmd, .state: break
        }
        return out
    }

    /// The bdSeq metric of an NBIRTH or NDEATH.
    static func bdSeq(_ payload: SparkplugPayload) -> UInt64? {
        for metric in payload.metrics where metric.name == "bdSeq" {
            switch metric.value {
            case .long(let v): return v
            case .int(let v): return UInt64(v)
            default: return nil
            }
        }
        return nil
    }

    /// A BIRTH's metric table.
    static func table(
        _ payload: SparkplugPayload, topic: SparkplugTopic, mapping: SparkplugMapping, kinds: [String: String],
        pillar: (String) -> Pillar?
    ) -> Table {
        var table = Table()
        for metric in payload.metrics {
            guard let name = metric.name else { continue }
            let index = table.defs.count
            table.defs.append(
                def(name: name, datatype: metric.datatype, topic: topic, mapping: mapping, kinds: kinds, pillar: pillar)
            )
            table.byName[name] = index
            if let alias = metric.alias { table.byAlias[alias] = index }
        }
        return table
    }

    /// One metric's series under the mapping, or why it has none.
    static func def(
        name: String, datatype: UInt32?, topic: SparkplugTopic, mapping: SparkplugMapping, kinds: [String: String],
        pillar: (String) -> Pillar?
    ) -> MetricDef {
        var def = MetricDef(name: name, datatype: datatype)
        if name == "bdSeq" || name.hasPrefix("Node Control/") || name.hasPrefix("Properties/") {
            def.skip = SparkplugSkip.control.rawValue
        } else if let kind = mapping.kind(ofMetric: name, kinds: kinds) {
            if let p = pillar(kind) ?? mapping.pillar {
                def.series = SeriesID(
                    park: mapping.park ?? topic.group, zone: mapping.zone ?? topic.node, pillar: p, kind: kind,
                    sensor: topic.device ?? topic.node)
            } else {
                def.skip = "unknown_kind:\(kind)"
            }
        } else {
            def.skip = SparkplugSkip.unmapped.rawValue
        }
        return def
    }

    /// The sequence check of every message after an NBIRTH: a number skipped waits the
    /// reorder timeout; one that arrives late closes its part of the gap.
    private mutating func sequence(_ node: inout Node, _ seq: UInt64?, arrival: Int64) {
        guard let seq else {
            events[.missingSeq, default: 0] += 1
            return
        }
        let received = UInt8(truncatingIfNeeded: seq)
        if node.missing.remove(received) != nil {
            if node.missing.isEmpty { node.gapDeadline = nil }
            return
        }
        let step = received &- node.seq!
        // The same number again (a QoS 1 redelivery) or one from behind: not a gap, and the
        // position stays where it is.
        if step == 0 || step > 128 {
            events[.oldSeq, default: 0] += 1
            return
        }
        let expected = node.seq! &+ 1
        if received != expected {
            events[.seqGap, default: 0] += 1
            var s = expected
            while s != received && node.missing.count < 255 {
                node.missing.insert(s)
                s = s &+ 1
            }
            if node.gapDeadline == nil { node.gapDeadline = arrival + settings.reorderTimeoutMilliseconds }
        }
        node.seq = received
    }

    /// Each metric's reading: the BIRTH's data type and series, its own time (or the
    /// message's, or the arrival), is_null, is_historical and is_transient honoured. Returns
    /// whether a metric named an alias the table lacks (the table cannot be trusted).
    @discardableResult
    private mutating func readings(
        _ payload: SparkplugPayload, table: Table, into out: inout Outcome, arrival: EventTime
    ) -> Bool {
        var unknownAlias = false
        for metric in payload.metrics {
            let index = metric.alias.flatMap { table.byAlias[$0] } ?? metric.name.flatMap { table.byName[$0] }
            guard let index else {
                events[.unknownAlias, default: 0] += 1
                unknownAlias = true
                continue
            }
            let def = table.defs[index]
            if metric.hasProperties { skipped[.propertySet, default: 0] += 1 }
            if def.skip == SparkplugSkip.control.rawValue {
                skipped[.control, default: 0] += 1
                continue
            }
            if metric.isTransient {
                skipped[.transient, default: 0] += 1
                continue
            }
            // What the value is decides first: a string metric is a skipped string, mapped or not.
            let value: Double
            switch metric.number(as: metric.datatype ?? def.datatype) {
            case .success(let v): value = v
            case .failure(let reason):
                skipped[reason, default: 0] += 1
                continue
            }
            guard let series = def.series else {
                if let skip = def.skip, skip.hasPrefix("collision:") {
                    out.refused = (
                        .badName,
                        "metric '\(def.name)' would write into series \(skip.dropFirst(10)), which another metric, device or node already writes (map them to different kinds)"
                    )
                } else if let skip = def.skip, skip.hasPrefix("unknown_kind:") {
                    out.refused = (
                        .unknownKind,
                        "metric '\(def.name)' maps to kind '\(skip.dropFirst(13))', which is not in the sensor catalog (map it under kinds:, add it under catalog:, or give the route a pillar)"
                    )
                } else {
                    skipped[.unmapped, default: 0] += 1
                }
                continue
            }
            let ms = metric.timestamp ?? payload.timestamp
            var reading = Reading(value: value, time: arrival, timed: false)
            if let ms {
                guard let time = Int64(exactly: ms).flatMap(EventTime.init(checkedMilliseconds:)) else {
                    out.refused = (.badTime, "metric '\(def.name)' has timestamp \(ms), outside the years 0001-9999")
                    continue
                }
                reading.time = time
                reading.timed = true
            }
            out.readings.append((series, reading, metric.isHistorical))
        }
        return unknownAlias
    }

    /// Rebirth requests due at `now`: a gap past its reorder timeout, or a table that cannot be
    /// trusted; at most one per node per `rebirth_interval`.
    package mutating func tick(at now: EventTime) {
        let due = nodes.compactMap { $0.value.gapDeadline != nil || $0.value.wantsRebirth ? $0.key : nil }
        for key in due.sorted() { pump(key, at: now.milliseconds) }
    }

    private mutating func pump(_ key: NodeKey, at now: Int64) {
        guard var node = nodes[key] else { return }
        pump(&node, key, at: now)
        nodes[key] = node
    }

    /// The node's due requests, on the node the caller holds (no second lookup per message).
    private mutating func pump(_ node: inout Node, _ key: NodeKey, at now: Int64) {
        if let deadline = node.gapDeadline, now >= deadline {
            node.gapDeadline = nil
            if !node.missing.isEmpty {
                node.missing = []
                node.wantsRebirth = true
            }
        }
        if node.wantsRebirth {
            if !settings.requestRebirth {
                events[.rebirthNeeded, default: 0] += 1
                node.wantsRebirth = false
            } else if node.lastRequest.map({ now - $0 >= settings.rebirthIntervalMilliseconds || now < $0 }) ?? true {
                node.lastRequest = now
                node.wantsRebirth = false
                if queued.insert(key).inserted {
                    requests.append(key)
                    events[.rebirthRequested, default: 0] += 1
                }
            }
        }
    }

    /// The nodes to send a rebirth request to, in order; the queue starts afresh.
    package mutating func takeRequests() -> [NodeKey] {
        defer {
            requests.removeAll()
            queued.removeAll()
        }
        return requests
    }

    /// Series of dead nodes and devices, with when they died.
    package var offline: [(series: SeriesID, since: EventTime)] {
        var out: [(SeriesID, EventTime)] = []
        for node in nodes.values {
            if let at = node.own.diedAt, !node.own.alive {
                out += node.own.series.map { ($0, EventTime(milliseconds: at)) }
            }
            for device in node.devices.values {
                if let at = device.diedAt, !device.alive {
                    out += device.series.map { ($0, EventTime(milliseconds: at)) }
                }
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    package var nodeCounts: (online: Int, offline: Int) {
        let online = nodes.values.filter(\.own.alive).count
        return (online, nodes.count - online)
    }

    /// What a restart keeps: each node's tables, sequence and liveness.
    package struct Saved: Codable, Sendable, Equatable {
        package var nodes: [NodeKey: Node]
    }

    package var saved: Saved { Saved(nodes: nodes) }

    /// Puts saved tables back, each metric's series named again under the mapping in force
    /// (`route` gives a group's), ownership taken again; a table whose indices do not fit its
    /// metrics (a damaged file) is dropped, and its node asked to rebirth by its next DATA.
    package mutating func restore(
        _ saved: Saved, route: (String) -> (mapping: SparkplugMapping, kinds: [String: String])?,
        pillar: (String) -> Pillar?
    ) {
        nodes = [:]
        owners = [:]
        for (key, saved) in saved.nodes.sorted(by: { $0.key < $1.key }) {
            guard nodes.count < settings.maxNodes, let (mapping, kinds) = route(key.group) else { continue }
            func remapped(_ table: Table, device: String?) -> Table? {
                let fits = { (i: Int) in i >= 0 && i < table.defs.count }
                guard table.byAlias.values.allSatisfy(fits), table.byName.values.allSatisfy(fits) else { return nil }
                var t = table
                let topic = SparkplugTopic(
                    group: key.group, type: device == nil ? .nbirth : .dbirth, node: key.node, device: device)
                for k in t.defs.indices {
                    t.defs[k] = Self.def(
                        name: t.defs[k].name, datatype: t.defs[k].datatype, topic: topic, mapping: mapping,
                        kinds: kinds,
                        pillar: pillar)
                }
                return claim(t, topic)
            }
            var node = saved
            guard let own = remapped(saved.own, device: nil) else { continue }
            node.own = own
            node.devices = [:]
            for (name, table) in saved.devices.sorted(by: { $0.key < $1.key })
            where node.devices.count < settings.maxDevicesPerNode {
                if let t = remapped(table, device: name) { node.devices[name] = t }
            }
            // Gaps and requests belong to the run that saw them.
            node.gapDeadline = nil
            node.missing = []
            node.lastRequest = nil
            nodes[key] = node
        }
    }
}
