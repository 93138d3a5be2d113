import TelemetryCore

/// The summary line for one interval, in the park's local time.
public enum SummaryFormat {
    public static func line(
        _ snapshot: IngestPipeline.Snapshot, from: EventTime, to: EventTime, utcOffsetMinutes: Int
    ) -> String {
        var line = JSONLine()
        line.add("type", "ingest_counts")
        line.add("from", RFC3339.format(from, offsetMinutes: utcOffsetMinutes))
        line.add("to", RFC3339.format(to, offsetMinutes: utcOffsetMinutes))
        line.add("messages", snapshot.counters.messages)
        line.add("readings", snapshot.counters.readings)
        var rejected = JSONLine()
        for reason in RejectReason.allCases.sorted() {
            rejected.add(reason.rawValue, snapshot.counters.rejected[reason, default: 0])
        }
        line.addRaw("rejected", rejected.finished())
        line.add("series_total", snapshot.seriesTotal)
        line.add("series_reporting", snapshot.series.count)
        let sorted = snapshot.series.sorted { $0.id.description < $1.id.description }
        var items: [String] = []
        items.reserveCapacity(sorted.count)
        for (id, interval) in sorted {
            var item = JSONLine()
            item.add("park", id.park)
            item.add("zone", id.zone)
            item.add("pillar", id.pillar.rawValue)
            item.add("kind", id.kind)
            item.add("sensor", id.sensor)
            item.add("readings", interval.readings)
            item.add("last", interval.last)
            item.add("last_at", RFC3339.format(interval.lastTime, offsetMinutes: utcOffsetMinutes))
            items.append(item.finished())
        }
        line.addRaw("series", "[" + items.joined(separator: ",") + "]")
        return line.finished()
    }

    static func offsetText(_ minutes: Int) -> String {
        let sign = minutes < 0 ? "-" : "+"
        let m = abs(minutes)
        return sign + (m / 60 < 10 ? "0" : "") + String(m / 60) + ":" + (m % 60 < 10 ? "0" : "") + String(m % 60)
    }
}
