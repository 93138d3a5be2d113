import TelemetryCore

/// How a `sparkplug` topic route names series: group → park, edge node → zone, device (or
/// the edge node itself, for its own metrics) → sensor, metric name → kind through `kinds:`.
public struct SparkplugMapping: Sendable, Equatable {
    /// Groups read; empty: every group.
    public var groups: [String] = []
    /// A fixed park instead of the group id.
    public var park: String?
    /// A fixed zone instead of the edge node id.
    public var zone: String?
    /// The pillar of kinds outside the sensor catalog (the catalog's own pillar wins).
    public var pillar: Pillar?
    /// Metrics not named under `kinds:` are skipped (counted as `unmapped`) instead of taken
    /// by their own name.
    public var onlyMapped = false

    public init() {}

    package func reads(group: String) -> Bool { groups.isEmpty || groups.contains(group) }

    /// The kind a metric becomes: its `kinds:` entry, or its name with Sparkplug's folder
    /// separator `/` read as `.` (`Meter/Power` → `Meter.Power`), or nil when only mapped
    /// metrics are read.
    package func kind(ofMetric name: String, kinds: [String: String]) -> String? {
        if let mapped = kinds[name] { return mapped }
        guard !onlyMapped else { return nil }
        return String(name.map { $0 == "/" ? "." : $0 })
    }
}
