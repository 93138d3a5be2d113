import TelemetryCore
import UplinkWire

/// Compliance records as JSON Lines (stable field names): one per station, rule and
/// completed period.
public enum ComplianceFormat {
    public static func json(_ r: ComplianceRecord, utcOffsetMinutes: Int) -> String {
        var line = JSONLine()
        line.add("rule", r.rule)
        if let reference = r.reference { line.add("reference", reference) }
        line.add(series: r.series)
        line.add("period", r.closed.period.rawValue)
        line.add("from", RFC3339.format(r.closed.start, offsetMinutes: utcOffsetMinutes))
        line.add("to", RFC3339.format(r.closed.end, offsetMinutes: utcOffsetMinutes))
        line.add("stat", r.statistic.rawValue)
        if let value = r.closed.value { line.add("value", value) } else { line.addRaw("value", "null") }
        line.add(r.above ? "limit" : "lower_limit", r.limit)
        line.addRaw("valid", r.closed.valid ? "true" : "false")
        line.addRaw("exceeded", r.exceeded ? "true" : "false")
        line.add("capture", r.closed.capture)
        line.add("covered", r.closed.covered)
        line.add("parts", r.closed.parts)
        line.add("samples", r.closed.samples)
        if let max = r.closed.max { line.add("max", max) }
        // A re-issue after late readings: the latest revision is the record.
        if r.closed.revision > 0 { line.add("revision", r.closed.revision) }
        if r.closed.late > 0 { line.add("late", r.closed.late) }
        return line.finished()
    }

    /// Records in a fixed order whatever the shard or thread that closed them.
    package static func ordered(_ records: [ComplianceRecord]) -> [ComplianceRecord] {
        records.sorted {
            ($0.closed.revision, $0.closed.end.milliseconds, $0.closed.period, $0.series, $0.rule)
                < ($1.closed.revision, $1.closed.end.milliseconds, $1.closed.period, $1.series, $1.rule)
        }
    }
}
