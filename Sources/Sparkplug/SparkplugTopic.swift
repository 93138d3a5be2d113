/// A Sparkplug B topic: `spBv1.0/<group>/<type>/<edge node>[/<device>]`, or a host's
/// `spBv1.0/STATE/<host>`. Ids are one topic level each: no `/`, `+` or `#` (the
/// specification's rule), and not empty.
public struct SparkplugTopic: Sendable, Hashable {
    public enum MessageType: String, Sendable, CaseIterable {
        case nbirth = "NBIRTH"
        case ndeath = "NDEATH"
        case dbirth = "DBIRTH"
        case ddeath = "DDEATH"
        case ndata = "NDATA"
        case ddata = "DDATA"
        case ncmd = "NCMD"
        case dcmd = "DCMD"
        case state = "STATE"

        /// Messages about a device, which name one in the topic's fifth level.
        public var isDevice: Bool { self == .dbirth || self == .ddeath || self == .ddata || self == .dcmd }
    }

    public static let namespace = "spBv1.0"

    public var group: String
    public var type: MessageType
    public var node: String
    public var device: String?

    public init(group: String, type: MessageType, node: String, device: String? = nil) {
        self.group = group
        self.type = type
        self.node = node
        self.device = device
    }

    /// The topic, or why it is not a Sparkplug B topic parkd reads.
    public static func parse(_ topic: String) -> Result<SparkplugTopic, SparkplugError> {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.first == Substring(namespace) else {
            return .failure(.init("topic does not start with \(namespace)/"))
        }
        if levels.count == 3 && levels[1] == "STATE" {
            return .success(SparkplugTopic(group: "", type: .state, node: String(levels[2])))
        }
        guard levels.count == 4 || levels.count == 5 else {
            return .failure(.init("a Sparkplug topic has 4 or 5 levels, this one \(levels.count)"))
        }
        guard let type = MessageType(rawValue: String(levels[2])), type != .state else {
            return .failure(.init("unknown Sparkplug message type '\(levels[2].prefix(16))'"))
        }
        guard type.isDevice == (levels.count == 5) else {
            return .failure(
                .init(type.isDevice ? "\(type.rawValue) names no device" : "\(type.rawValue) names a device level"))
        }
        for level in levels.dropFirst() where level.isEmpty {
            return .failure(.init("a Sparkplug topic level is empty"))
        }
        return .success(
            SparkplugTopic(
                group: String(levels[1]), type: type, node: String(levels[3]),
                device: levels.count == 5 ? String(levels[4]) : nil))
    }

    public var text: String {
        var text = "\(Self.namespace)/\(group)/\(type.rawValue)/\(node)"
        if let device { text += "/" + device }
        return text
    }

    /// The host application's state topic (Sparkplug 3.0: `spBv1.0/STATE/<host id>`).
    public static func state(host: String) -> String { "\(namespace)/STATE/\(host)" }

    /// Whether an id may stand in a topic level.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 255 && !id.utf8.contains { $0 == 0x2F || $0 == 0x2B || $0 == 0x23 || $0 < 0x20 }
    }
}

/// Why a Sparkplug message could not be read: the detail for the log.
public struct SparkplugError: Error, Sendable, Equatable, CustomStringConvertible {
    public var detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}
