import Foundation
import Logging
import TelemetryCore

/// Active alerts saved in the state directory, so a restart neither forgets an episode nor
/// announces it twice. Written atomically (temporary file, then rename).
enum AlertState {
    static let version = 1

    static func save(_ alerts: [RuleEngine.ActiveAlert], to path: String, at time: EventTime) throws {
        var items: [String] = []
        for alert in alerts {
            var item = JSONLine()
            item.add("rule", alert.rule)
            item.add(series: alert.series)
            switch alert.phase {
            case .pending(let since):
                item.add("phase", "pending")
                item.add("since_ms", Int(since.milliseconds))
            case .firing(let since, let notified):
                item.add("phase", "firing")
                item.add("since_ms", Int(since.milliseconds))
                item.add("notified_ms", Int(notified.milliseconds))
            case .idle:
                continue
            }
            items.append(item.finished())
        }
        var document = JSONLine()
        document.add("version", version)
        document.add("saved_ms", Int(time.milliseconds))
        document.addRaw("alerts", "[" + items.joined(separator: ",") + "]")
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp"
        try Data((document.finished() + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw DaemonError.output(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// The saved alerts and when they were saved; nil when there is no file. A file that cannot
    /// be read is moved aside (`.corrupt`) and reported, never fatal.
    static func load(from path: String, logger: Logger) -> (alerts: [RuleEngine.ActiveAlert], saved: EventTime)? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            let document = try JSONValue.parse(Array(data))
            guard document["version"]?.number == Double(version), let saved = document["saved_ms"]?.number,
                case .array(let items)? = document["alerts"]
            else { throw FeedError("unknown layout or version") }
            var alerts: [RuleEngine.ActiveAlert] = []
            for item in items {
                guard let rule = item["rule"]?.string, let park = item["park"]?.string, let zone = item["zone"]?.string,
                    let pillar = item["pillar"]?.string.flatMap(Pillar.init(rawValue:)),
                    let kind = item["kind"]?.string,
                    let sensor = item["sensor"]?.string, let since = item["since_ms"]?.number
                else { throw FeedError("an alert entry lacks a field") }
                let series = SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
                let phase: AlertTracker.Phase
                switch item["phase"]?.string {
                case "pending": phase = .pending(since: EventTime(milliseconds: Int64(since)))
                case "firing":
                    let notified = item["notified_ms"]?.number ?? since
                    phase = .firing(
                        since: EventTime(milliseconds: Int64(since)), notified: EventTime(milliseconds: Int64(notified))
                    )
                default: throw FeedError("an alert entry has an unknown phase")
                }
                alerts.append(RuleEngine.ActiveAlert(rule: rule, series: series, phase: phase))
            }
            return (alerts, EventTime(milliseconds: Int64(saved)))
        } catch {
            let aside = path + ".corrupt"
            try? FileManager.default.removeItem(atPath: aside)
            try? FileManager.default.moveItem(atPath: path, toPath: aside)
            logger.error(
                "alert state '\(path)' could not be read (\(error)); moved aside to \(aside), starting without it")
            return nil
        }
    }
}
