import TelemetryCore
import UplinkWire

/// A topic pattern with the payload format of the topics it matches, and the names under
/// which a multi-reading payload's fields become kinds (`pm2_5` → `pm25`).
public struct TopicRoute: Sendable {
    public var pattern: TopicPattern
    public var decoder: PayloadDecoder
    public var kindAliases: [String: String]

    public init(pattern: TopicPattern, decoder: PayloadDecoder = PayloadDecoder(), kindAliases: [String: String] = [:])
    {
        self.pattern = pattern
        self.decoder = decoder
        self.kindAliases = kindAliases
    }

    package func kind(forField field: String) -> String { kindAliases[field] ?? field }
}
