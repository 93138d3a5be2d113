import ParkIngest
import TelemetryCore

/// `/api/sparkplug`: the host's edge nodes, the series their deaths made stale, and its counts.
enum SparkplugFormat {
    static func status(_ s: SparkplugStatus) -> String {
        var line = JSONLine()
        line.add("nodes_online", s.nodesOnline)
        line.add("nodes_offline", s.nodesOffline)
        let offline = s.offline.map { entry -> String in
            var item = JSONLine()
            item.add(series: entry.series)
            item.add("since", RFC3339.format(entry.since, offsetMinutes: 0))
            return item.finished()
        }
        line.addRaw("offline", "[" + offline.joined(separator: ",") + "]")
        var events = JSONLine()
        for (name, n) in s.events { events.add(name, n) }
        line.addRaw("events", events.finished())
        var skipped = JSONLine()
        for (name, n) in s.skipped { skipped.add(name, n) }
        line.addRaw("skipped", skipped.finished())
        return line.finished()
    }
}
