/// What an uplink item is. The raw value is the `kind` field on the wire, the name in
/// `uplink.send`, and the central table the item lands in.
public enum UplinkItemKind: String, Codable, Sendable, CaseIterable, Hashable {
    case alerts, summaries, compliance, rollups
}
