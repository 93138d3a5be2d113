import TelemetryCore

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
        line.add("series_reporting", snapshot.series.count)
        let sorted = snapshot.series.sorted { $0.id.description < $1.id.description }
        var items: [String] = []
        items.reserveCapacity(sorted.count)
        for report in sorted {
            let id = report.id
            var item = JSONLine()
            item.add(series: id)
            item.add("readings", report.interval.readings)
            item.add("accepted", report.interval.outcomes.accepted)
            if report.interval.outcomes.total > report.interval.outcomes.accepted {
                item.addRaw("quality", quality(report.interval.outcomes))
            }
            if report.interval.last.isFinite {
                item.add("last", report.interval.last)
                item.add("last_at", RFC3339.format(report.interval.lastTime, offsetMinutes: utcOffsetMinutes))
            }
            var windows = JSONLine()
            for (name, stats, validity) in report.windows {
                windows.addRaw(name, window(stats, shape: report.shape, validity: validity))
            }
            item.addRaw("windows", windows.finished())
            items.append(item.finished())
        }
        line.addRaw("series", "[" + items.joined(separator: ",") + "]")
        return line.finished()
    }

    static func quality(_ outcomes: SeriesState.Counts) -> String {
        var line = JSONLine()
        for outcome in SeriesState.Outcome.allCases where outcome != .accepted {
            line.add(outcome.rawValue, outcomes[outcome])
        }
        return line.finished()
    }

    static func window(_ stats: WindowStats, shape: MeasureShape, validity: WindowValidity? = nil) -> String {
        var line = JSONLine()
        line.add("count", stats.count)
        if !stats.isEmpty {
            line.add("mean", stats.mean)
            line.add("min", stats.min)
            line.add("max", stats.max)
            line.add("std", stats.standardDeviation ?? 0)
            line.add("p50", stats.quantile(0.5) ?? .nan)
            line.add("p95", stats.quantile(0.95) ?? .nan)
            line.add("p99", stats.quantile(0.99) ?? .nan)
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
