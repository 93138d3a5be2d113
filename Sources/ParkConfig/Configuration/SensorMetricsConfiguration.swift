import TelemetryCore

/// `prometheus:`: the sensor figures in Prometheus' text format, on an HTTP path of their own
/// (or appended to parkd's own `/metrics`). Off unless configured.
public struct SensorMetricsConfiguration: Sendable, Equatable {
    public var path = "/metrics/sensors"
    /// The windows whose means are exposed; nil: every configured window.
    public var windows: [String]?
    /// Series exposed at most; the rest are left out, counted and logged once.
    public var maxSeries = 10_000

    public init() {}
}

extension ConfigurationParser {
    package func parseSensorMetrics(_ top: Fields, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        guard let node = top["prometheus"] else { return }
        var s = SensorMetricsConfiguration()
        let f = try node.fields(["path", "windows", "max_series"])
        if let v = f["path"] {
            let path = try v.nonEmptyString()
            // Every path parkd already serves but /metrics (which then carries both) is taken.
            let taken = [
                "/", "/healthz", "/api/alerts", "/api/summary", "/api/series", "/api/history", "/api/compliance",
                "/api/sparkplug",
            ]
            guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/"),
                path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }),
                !taken.contains(path), !path.contains("{"), !path.contains("*"), !path.contains(":")
            else {
                throw v.error("expected a path of its own such as /metrics/sensors (or /metrics), found '\(path)'")
            }
            s.path = path
        }
        if let v = f["windows"] {
            let names = try v.list().map { (item: YAMLValue) throws(ConfigurationError) -> String in
                let name = try item.nonEmptyString()
                guard configuration.windows.contains(where: { $0.name == name }) else {
                    throw item.error(
                        "no window named '\(name)'; the windows are \(configuration.windows.map(\.name).joined(separator: ", "))"
                    )
                }
                return name
            }
            s.windows = names
        }
        if let v = f["max_series"] { s.maxSeries = try v.int(in: 1...10_000_000) }
        guard configuration.listen != nil else {
            throw node.error("the sensor figures are served over HTTP: set http.listen (http is off)")
        }
        configuration.sensorMetrics = s
    }
}

extension DaemonConfiguration {
    static func sensorMetricsLines(_ s: SensorMetricsConfiguration) -> [String] {
        var lines = ["prometheus:", "  path: \(JSONText.quoted(s.path))"]
        if let windows = s.windows {
            lines.append("  windows: [\(windows.map(JSONText.quoted).joined(separator: ", "))]")
        }
        lines.append("  max_series: \(s.maxSeries)")
        return lines
    }
}
