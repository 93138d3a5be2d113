import ParkIngest
import Sparkplug
import TelemetryCore

/// The top-level `sparkplug:` section: how parkd behaves as a Sparkplug B host application.
/// Both of its writes to the plant's broker are off unless asked for.
public struct SparkplugConfiguration: Sendable, Equatable {
    /// Publish the host's STATE (`spBv1.0/STATE/<host_id>`, retained, QoS 1, with
    /// `online:false` as the will) under this id; nil: publish nothing.
    public var hostID: String?
    /// Send NCMD `Node Control/Rebirth` when an edge node's table cannot be trusted.
    public var rebirth = false
    public var reorderTimeoutSeconds = 2.0
    public var rebirthIntervalSeconds = 30.0

    public init() {}

    package var hostSettings: SparkplugHost.Settings {
        var settings = SparkplugHost.Settings()
        settings.requestRebirth = rebirth
        settings.reorderTimeoutMilliseconds = Int64(reorderTimeoutSeconds * 1000)
        settings.rebirthIntervalMilliseconds = Int64(rebirthIntervalSeconds * 1000)
        return settings
    }
}

extension ConfigurationParser {
    /// A topic route's `sparkplug:` block: `{groups, park, zone, pillar, only_mapped}`.
    package func parseSparkplugMapping(_ node: YAMLValue) throws(ConfigurationError) -> SparkplugMapping {
        var mapping = SparkplugMapping()
        if case .scalar = node.node {
            guard try node.bool() else { throw node.error("expected a mapping or true") }
            return mapping
        }
        let f = try node.fields(["groups", "park", "zone", "pillar", "only_mapped"])
        if let groups = f["groups"] {
            mapping.groups = try groups.list().map { (item: YAMLValue) throws(ConfigurationError) -> String in
                let id = try item.nonEmptyString()
                guard SparkplugTopic.isValidID(id) else {
                    throw item.error("'\(id)' cannot be a Sparkplug group id (no '/', '+', '#' or control characters)")
                }
                return id
            }
        }
        mapping.park = try f["park"]?.nonEmptyString()
        mapping.zone = try f["zone"]?.nonEmptyString()
        if let node = f["pillar"] {
            let text = try node.string()
            guard let pillar = Pillar(rawValue: text) else {
                throw node.error("expected energy, emissions or green, found '\(text)'")
            }
            mapping.pillar = pillar
        }
        if let v = f["only_mapped"] { mapping.onlyMapped = try v.bool() }
        return mapping
    }

    /// The top-level `sparkplug:` section.
    package func parseSparkplug(_ top: Fields, into configuration: inout DaemonConfiguration) throws(ConfigurationError)
    {
        guard let node = top["sparkplug"] else { return }
        let f = try node.fields(["host_id", "rebirth", "reorder_timeout", "rebirth_interval"])
        var s = SparkplugConfiguration()
        if let v = f["host_id"], try v.nonEmptyString() != "off" {
            let id = try v.nonEmptyString()
            guard SparkplugTopic.isValidID(id), id.utf8.count <= 64 else {
                throw v.error("'\(id)' cannot be a host id (one topic level: no '/', '+' or '#', at most 64 bytes)")
            }
            s.hostID = id
        }
        if let v = f["rebirth"] { s.rebirth = try v.bool() }
        if let v = f["reorder_timeout"] { s.reorderTimeoutSeconds = try v.duration(in: 0...600) }
        if let v = f["rebirth_interval"] { s.rebirthIntervalSeconds = try v.duration(in: 1...86400) }
        if !configuration.topics.contains(where: { $0.sparkplug != nil }) {
            throw node.error("no topic route reads Sparkplug: add `- sparkplug: {}` under topics:")
        }
        configuration.sparkplug = s
    }
}

extension DaemonConfiguration {
    /// `sparkplug:` with its defaults filled in.
    static func sparkplugLines(_ s: SparkplugConfiguration) -> [String] {
        [
            "sparkplug:",
            "  host_id: \(s.hostID.map(JSONText.quoted) ?? "off")",
            "  rebirth: \(s.rebirth)",
            "  reorder_timeout: \(TimeText.format(s.reorderTimeoutSeconds))",
            "  rebirth_interval: \(TimeText.format(s.rebirthIntervalSeconds))",
        ]
    }

    /// One `sparkplug` topic route as YAML.
    static func sparkplugRouteLines(_ mapping: SparkplugMapping, kinds: [String: String]) -> [String] {
        var fields: [String] = []
        if !mapping.groups.isEmpty {
            fields.append("groups: [\(mapping.groups.map(JSONText.quoted).joined(separator: ", "))]")
        }
        if let park = mapping.park { fields.append("park: \(JSONText.quoted(park))") }
        if let zone = mapping.zone { fields.append("zone: \(JSONText.quoted(zone))") }
        if let pillar = mapping.pillar { fields.append("pillar: \(pillar.rawValue)") }
        fields.append("only_mapped: \(mapping.onlyMapped)")
        var lines = ["  - sparkplug: {\(fields.joined(separator: ", "))}"]
        if !kinds.isEmpty {
            let pairs = kinds.sorted { $0.key < $1.key }.map {
                "\(JSONText.quoted($0.key)): \(JSONText.quoted($0.value))"
            }
            lines.append("    kinds: {\(pairs.joined(separator: ", "))}")
        }
        return lines
    }
}
