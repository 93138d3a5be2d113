import Sparkplug
import TelemetryCore
import UplinkWire

/// A topic pattern with the payload format of the topics it matches, and the names under
/// which a multi-reading payload's fields become kinds (`pm2_5` → `pm25`).
public struct TopicRoute: Sendable {
    public var pattern: TopicPattern
    public var decoder: PayloadDecoder
    public var kindAliases: [String: String]
    /// A Sparkplug B route: the host stage reads the topic and payload, and names the series.
    public var sparkplug: SparkplugMapping?

    public init(pattern: TopicPattern, decoder: PayloadDecoder = PayloadDecoder(), kindAliases: [String: String] = [:])
    {
        self.pattern = pattern
        self.decoder = decoder
        self.kindAliases = kindAliases
    }

    /// A route over Sparkplug B's topics (`spBv1.0/<group>/...`), whose series the host stage
    /// names per metric; the pattern only stands in for the route (it names no series).
    public static func sparkplug(_ mapping: SparkplugMapping, kinds: [String: String] = [:]) -> TopicRoute {
        let placeholder = try! TopicPattern(
            "spBv1.0/#", fixed: ["park": "-", "zone": "-", "pillar": "energy", "kind": "-", "sensor": "-"])
        var route = TopicRoute(pattern: placeholder, kindAliases: kinds)
        route.sparkplug = mapping
        return route
    }

    /// Whether the route takes the topic: its pattern's series, or for a Sparkplug route a
    /// stand-in that names only the park (the fixed one, else the group), which the host
    /// stage names each metric's series under (so a replay shards it with that park).
    package func match(_ topic: String) -> SeriesID? {
        guard let sparkplug else { return pattern.match(topic) }
        let levels = topic.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 2, omittingEmptySubsequences: false)
        guard levels.count >= 2, levels[0].elementsEqual(SparkplugTopic.namespace.utf8) else { return nil }
        // Another host's STATE is Sparkplug traffic too (counted, not an unknown topic).
        let group = String(Substring(levels[1]))
        guard group == "STATE" || sparkplug.reads(group: group) else { return nil }
        return SeriesID(park: sparkplug.park ?? group, zone: "-", pillar: .energy, kind: "-", sensor: "-")
    }

    package func kind(forField field: String) -> String { kindAliases[field] ?? field }
}
