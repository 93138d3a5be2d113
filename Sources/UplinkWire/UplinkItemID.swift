import TelemetryCore

/// Item ids: `<gateway>/<letter>/…`, built from what an item is (a series and interval, a rule
/// and period, a line's hash), never from an outbox sequence, so a resend, a replay or a
/// rebuilt outbox cannot reuse or change one. The central side keys its rows on them.
public enum UplinkItemID {
    public static func rollup(gateway: String, series: SeriesID, start: Int64) -> String {
        "\(gateway)/r/\(series)/\(start)"
    }

    public static func compliance(gateway: String, rule: String, series: SeriesID, period: String, start: Int64)
        -> String
    {
        "\(gateway)/c/\(rule)/\(series)/\(period)/\(start)"
    }

    public static func alert(gateway: String, at: Int64, line: String) -> String {
        "\(gateway)/a/\(at)/\(hash(line))"
    }

    public static func summary(gateway: String, period: String, from: Int64) -> String {
        "\(gateway)/s/\(period)/\(from)"
    }

    /// The gateway an id names (its first level), or nil when it has none.
    public static func gateway(of id: String) -> Substring? {
        guard let slash = id.firstIndex(of: "/"), slash != id.startIndex else { return nil }
        return id[..<slash]
    }

    /// FNV-1a (TelemetryCore's), 64 bits, as 16 hex digits: stable across runs and builds
    /// (Swift's Hasher is seeded per process).
    public static func hash(_ text: String) -> String {
        let hex = String(fnv1a64(Array(text.utf8)), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
