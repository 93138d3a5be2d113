import TelemetryCore
import UplinkWire

/// The summary line for one interval, in the park's local time. Field order is fixed and
/// numbers print as their shortest exact text, so the same input gives the same bytes.
public enum SummaryFormat {
    /// `gap` is the number of whole intervals the line stands for when the clock jumped or the
    /// feed was idle past more than one boundary (one line instead of one per interval).
    public static func line(
        _ snapshot: IngestPipeline.Snapshot, period: String? = nil, from: EventTime, to: EventTime,
        utcOffsetMinutes: Int, gap: Int? = nil
    ) -> String {
        var line = JSONLine()
        line.add("type", "ingest")
        if let period { line.add("period", period) }
        line.add("from", RFC3339.format(from, offsetMinutes: utcOffsetMinutes))
        line.add("to", RFC3339.format(to, offsetMinutes: utcOffsetMinutes))
        if let gap { line.add("gap_intervals", gap) }
        line.add("messages", snapshot.counters.messages)
        line.add("readings", snapshot.counters.readings)
        line.add("accepted", snapshot.counters.accepted)
        var rejected = JSONLine()
        for reason in RejectReason.allCases.sorted() {
            rejected.add(reason.rawValue, snapshot.counters.rejected[reason, default: 0])
        }
        line.addRaw("rejected", rejected.finished())
        line.addRaw("quality", quality(snapshot.counters.outcomes))
        line.addRaw("parks", "[" + snapshot.parks.map(\.json).joined(separator: ",") + "]")
        line.add("series_total", snapshot.seriesTotal)
        line.add("series_reporting", snapshot.seriesReporting)
        return line.finished()
    }

    /// Per-series detail for one interval: one line per reporting series, with its interval
    /// figures, its outcomes since it opened and its windows (`summaries.series_path`).
    public static func seriesLines(
        _ snapshot: IngestPipeline.Snapshot, period: String? = nil, from: EventTime, to: EventTime,
        utcOffsetMinutes: Int
    ) -> [String] {
        let fromText = RFC3339.format(from, offsetMinutes: utcOffsetMinutes)
        let toText = RFC3339.format(to, offsetMinutes: utcOffsetMinutes)
        return snapshot.series.sorted { $0.id.description < $1.id.description }.map { report in
            var item = JSONLine()
            item.add("type", "series")
            if let period { item.add("period", period) }
            item.add("from", fromText)
            item.add("to", toText)
            item.add(series: report.id)
            item.add("readings", report.interval.readings)
            item.add("accepted", report.interval.accepted)
            if report.interval.last.isFinite {
                item.add("last", report.interval.last)
                item.add("last_at", RFC3339.format(report.interval.lastTime, offsetMinutes: utcOffsetMinutes))
            }
            if report.counts.total > report.counts.accepted { item.addRaw("quality_total", quality(report.counts)) }
            item.addRaw("windows", windows(report.windows, shape: report.shape))
            return item.finished()
        }
    }

    /// A series' windows as one JSON object, by window name.
    package static func windows(
        _ windows: [(name: String, stats: WindowStats, validity: WindowValidity?)], shape: MeasureShape
    ) -> String {
        var line = JSONLine()
        for (name, stats, validity) in windows { line.addRaw(name, window(stats, shape: shape, validity: validity)) }
        return line.finished()
    }

    package static func quality(_ outcomes: SeriesState.Counts) -> String {
        var line = JSONLine()
        for outcome in SeriesState.Outcome.allCases where outcome != .accepted {
            line.add(outcome.rawValue, outcomes[outcome])
        }
        return line.finished()
    }

    package static func window(_ stats: WindowStats, shape: MeasureShape, validity: WindowValidity? = nil) -> String {
        var line = JSONLine()
        line.add("count", stats.count)
        if let leq = stats.leq { line.add("leq", leq) }  // decibel series: the energy average
        if !stats.isEmpty && !stats.detailed {
            line.add("mean", stats.mean)  // a lean window keeps no more (`detail: true` keeps it all)
        } else if !stats.isEmpty {
            line.add("mean", stats.mean)
            line.add("min", stats.min)
            line.add("max", stats.max)
            line.add("std", stats.standardDeviation ?? 0)
            // Only windows that keep quantile sketches have them (`quantiles: true`).
            if stats.sketch.count > 0 {
                line.add("p50", stats.quantile(0.5) ?? .nan)
                line.add("p95", stats.quantile(0.95) ?? .nan)
                line.add("p99", stats.quantile(0.99) ?? .nan)
            }
            if let rate = stats.rateOfChange { line.add("rate_per_s", rate) }
            if shape == .counter {
                line.add("increase", stats.increase)
                line.add("resets", stats.resets)
            }
        }
        if let validity {
            line.add("valid_" + validity.unit.rawValue, validity.covered)
            line.addRaw("valid", validity.valid ? "true" : "false")
        }
        return line.finished()
    }
}
