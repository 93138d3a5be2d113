import Sparkplug
import TelemetryCore

/// A simulated Sparkplug B edge node: an energy meter cabinet with devices, as a PLC gateway
/// would publish it. It makes the messages (NBIRTH, DBIRTH, NDATA, DDATA, NDEATH as its will)
/// and the ground truth of every reading it sends; the faults it can inject are labelled in
/// that truth. Pure: the caller hands in the times and publishes.
public struct SparkplugEdge: Sendable {
    public enum Fault: String, Sendable, CaseIterable {
        /// One DDATA of round `gapRound` is not sent: its sequence number is skipped.
        case seqGap = "seq_gap"
        /// One NDATA is sent before the first NBIRTH.
        case dataBeforeBirth = "data_before_birth"
        /// An NDEATH with another bdSeq is sent mid-run (an old will): a host must ignore it.
        case bdSeqMismatch = "bdseq_mismatch"
        /// The node ends with a clean DISCONNECT and no NDEATH: its will is never published.
        case silentDeath = "silent_death"
    }

    public struct Message: Sendable {
        public var topic: String
        public var payload: [UInt8]
        /// Ground truth lines for this message (readings it carries, faults it is).
        public var truth: [String]
    }

    /// One metric of a device or of the node itself.
    struct MetricSpec {
        var name: String
        var alias: UInt64
        var type: SparkplugDataType
        /// Its value at round i.
        var value: @Sendable (Int) -> SparkplugPayload.Value
        /// The value as parkd reads it (nil: a metric parkd skips).
        var number: @Sendable (Int) -> Double?
        var birthOnly = false
    }

    public let group: String
    public let node: String
    public let devices: [String]
    public let faults: Set<Fault>
    public let gapRound: Int
    public let bdSeq: UInt64
    private var seq: UInt8 = 0
    private var round = 0
    private var births = 0

    public init(
        group: String, node: String, devices: [String], faults: Set<Fault> = [], gapRound: Int = 5, bdSeq: UInt64 = 0
    ) {
        self.group = group
        self.node = node
        self.devices = devices
        self.faults = faults
        self.gapRound = gapRound
        self.bdSeq = bdSeq
    }

    /// The node's own metrics: bdSeq and the rebirth control (Sparkplug's), a cabinet humidity.
    static let nodeMetrics: [MetricSpec] = [
        MetricSpec(
            name: "Cabinet/Humidity", alias: 1, type: .double, value: { .double(50 + 0.5 * Double($0 % 80)) },
            number: { 50 + 0.5 * Double($0 % 80) }),
        MetricSpec(
            name: "Node Control/Rebirth", alias: 2, type: .boolean, value: { _ in .bool(false) }, number: { _ in nil },
            birthOnly: true),
    ]

    /// Each device's metrics: scalar types of every width the meter uses, and a string.
    static let deviceMetrics: [MetricSpec] = [
        MetricSpec(
            name: "Meter/Active Power", alias: 10, type: .float, value: { .float(100 + 0.25 * Float($0)) },
            number: { 100 + 0.25 * Double($0) }),
        MetricSpec(
            name: "Meter/Energy", alias: 11, type: .uint64, value: { .long(5000 + 2 * UInt64($0)) },
            number: { 5000 + 2 * Double($0) }),
        MetricSpec(
            name: "Meter/Power Factor", alias: 12, type: .double, value: { .double(0.5 + 0.125 * Double($0 % 4)) },
            number: { 0.5 + 0.125 * Double($0 % 4) }),
        // Int16 in int_value as two's complement: -5 is sent as 0xFFFFFFFB.
        MetricSpec(
            name: "Cabinet/Temperature", alias: 13, type: .int16,
            value: { .int(UInt32(bitPattern: Int32(-5 + $0 % 60))) }, number: { Double(-5 + $0 % 60) }),
        MetricSpec(
            name: "Status/Running", alias: 14, type: .boolean, value: { .bool($0 % 2 == 0) },
            number: { $0 % 2 == 0 ? 1 : 0 }),
        MetricSpec(
            name: "Serial", alias: 15, type: .string, value: { _ in .string("SN-0001") }, number: { _ in nil },
            birthOnly: true),
    ]

    /// The NDEATH payload (the will, set before connecting): bdSeq only.
    public var deathPayload: [UInt8] { Self.death(bdSeq: bdSeq) }

    static func death(bdSeq: UInt64) -> [UInt8] {
        SparkplugPayload(metrics: [
            .init(name: "bdSeq", datatype: SparkplugDataType.int64.rawValue, value: .long(bdSeq))
        ])
        .encoded()
    }

    public var deathTopic: String { SparkplugTopic(group: group, type: .ndeath, node: node).text }
    public var commandTopic: String { SparkplugTopic(group: group, type: .ncmd, node: node).text }

    /// Whether a received NCMD asks for a rebirth.
    public static func isRebirthRequest(_ payload: [UInt8]) -> Bool {
        guard case .success(let decoded) = SparkplugPayload.decode(payload) else { return false }
        return decoded.metrics.contains { $0.name == "Node Control/Rebirth" && $0.value == .bool(true) }
    }

    /// The messages before the first BIRTH (the `data_before_birth` fault), at `time`.
    public mutating func start(at time: EventTime) -> [Message] {
        guard faults.contains(.dataBeforeBirth) else { return [] }
        let payload = SparkplugPayload(
            timestamp: UInt64(time.milliseconds), seq: 0,
            metrics: [.init(alias: 1, timestamp: UInt64(time.milliseconds), value: .double(1))])
        return [
            Message(
                topic: SparkplugTopic(group: group, type: .ndata, node: node).text, payload: payload.encoded(),
                truth: [fault(.dataBeforeBirth, at: time)])
        ]
    }

    /// NBIRTH and each device's DBIRTH, with the current values: the first birth, or one asked
    /// for by NCMD. The sequence starts again at 0.
    public mutating func birth(at time: EventTime) -> [Message] {
        births += 1
        seq = 0
        let i = round
        var out: [Message] = []
        var nodeMetrics = [
            SparkplugPayload.Metric(
                name: "bdSeq", timestamp: ms(time), datatype: SparkplugDataType.int64.rawValue, value: .long(bdSeq))
        ]
        var truth: [String] = []
        for spec in Self.nodeMetrics {
            nodeMetrics.append(metric(spec, round: i, time: time, named: true))
            if let n = spec.number(i) { truth.append(reading(spec, device: nil, value: n, time: time, phase: "birth")) }
        }
        out.append(
            Message(
                topic: SparkplugTopic(group: group, type: .nbirth, node: node).text,
                payload: SparkplugPayload(timestamp: ms(time), seq: UInt64(seq), metrics: nodeMetrics).encoded(),
                truth: truth))
        for device in devices {
            seq &+= 1
            out.append(message(.dbirth, device: device, round: i, time: time))
        }
        return out
    }

    /// One device's DBIRTH (every metric, named, with its type) or DDATA (by alias only).
    private func message(_ type: SparkplugTopic.MessageType, device: String, round i: Int, time: EventTime) -> Message {
        let birth = type == .dbirth
        var metrics: [SparkplugPayload.Metric] = []
        var truth: [String] = []
        for spec in Self.deviceMetrics where birth || !spec.birthOnly {
            metrics.append(metric(spec, round: i, time: time, named: birth))
            if let n = spec.number(i) {
                truth.append(reading(spec, device: device, value: n, time: time, phase: birth ? "birth" : "data"))
            }
        }
        return Message(
            topic: SparkplugTopic(group: group, type: type, node: node, device: device).text,
            payload: SparkplugPayload(timestamp: ms(time), seq: UInt64(seq), metrics: metrics).encoded(),
            truth: truth)
    }

    /// The next round of DATA: the node's NDATA and each device's DDATA, by alias only.
    public mutating func data(at time: EventTime) -> [Message] {
        round += 1
        let i = round
        var out: [Message] = []
        seq &+= 1
        var truth: [String] = []
        var metrics: [SparkplugPayload.Metric] = []
        for spec in Self.nodeMetrics where !spec.birthOnly {
            metrics.append(metric(spec, round: i, time: time, named: false))
            if let n = spec.number(i) { truth.append(reading(spec, device: nil, value: n, time: time, phase: "data")) }
        }
        out.append(
            Message(
                topic: SparkplugTopic(group: group, type: .ndata, node: node).text,
                payload: SparkplugPayload(timestamp: ms(time), seq: UInt64(seq), metrics: metrics).encoded(),
                truth: truth))
        for (d, device) in devices.enumerated() {
            seq &+= 1
            if faults.contains(.seqGap) && i == gapRound && d == 0 {
                // The message is lost before the broker: its sequence number never arrives.
                out.append(Message(topic: "", payload: [], truth: [fault(.seqGap, at: time, seq: Int(seq))]))
                continue
            }
            out.append(message(.ddata, device: device, round: i, time: time))
        }
        if faults.contains(.bdSeqMismatch) && i == gapRound + 1 {
            out.append(
                Message(
                    topic: deathTopic, payload: Self.death(bdSeq: bdSeq &+ 1),
                    truth: [fault(.bdSeqMismatch, at: time)]))
        }
        return out
    }

    /// The ground truth line of how the node ends.
    public func end(at time: EventTime) -> String {
        var line = JSONLine()
        line.add("type", "end")
        line.add("group", group)
        line.add("node", node)
        line.add("how", faults.contains(.silentDeath) ? Fault.silentDeath.rawValue : "will")
        line.add("t", Int(time.milliseconds))
        line.add("births", births)
        return line.finished()
    }

    private func ms(_ time: EventTime) -> UInt64 { UInt64(max(0, time.milliseconds)) }

    private func metric(_ spec: MetricSpec, round i: Int, time: EventTime, named: Bool) -> SparkplugPayload.Metric {
        var m = SparkplugPayload.Metric(
            name: named ? spec.name : nil, alias: spec.alias, timestamp: ms(time),
            datatype: named ? spec.type.rawValue : nil, value: spec.value(i))
        m.isHistorical = false
        return m
    }

    private func reading(_ spec: MetricSpec, device: String?, value: Double, time: EventTime, phase: String) -> String {
        var line = JSONLine()
        line.add("type", "reading")
        line.add("group", group)
        line.add("node", node)
        if let device { line.add("device", device) }
        line.add("metric", spec.name)
        line.add("t", Int(time.milliseconds))
        line.add("value", value)
        line.add("phase", phase)
        return line.finished()
    }

    private func fault(_ fault: Fault, at time: EventTime, seq: Int? = nil) -> String {
        var line = JSONLine()
        line.add("type", "fault")
        line.add("fault", fault.rawValue)
        line.add("group", group)
        line.add("node", node)
        line.add("t", Int(time.milliseconds))
        if let seq { line.add("seq", seq) }
        return line.finished()
    }
}
