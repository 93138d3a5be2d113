import Foundation
import Logging
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// Active alerts and open regulatory episodes saved in the state directory, so a restart
/// neither forgets an episode, nor announces it twice, nor stops counting its minutes in
/// exceedance. Written with `AtomicFile`.
package enum AlertState {
    package static let version = 1

    package static func save(
        _ alerts: [RuleEngine.ActiveAlert], episodes: [Exceedance] = [], to path: String, at time: EventTime
    ) throws {
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
        let open = episodes.map { episode in
            var item = JSONLine()
            item.add("id", episode.id)
            item.add("rule", episode.rule)
            item.add(series: episode.series)
            item.add("since_ms", Int(episode.since.milliseconds))
            if let end = episode.end { item.add("end_ms", Int(end.milliseconds)) }
            return item.finished()
        }
        document.addRaw("episodes", "[" + open.joined(separator: ",") + "]")
        try AtomicFile.write(Array((document.finished() + "\n").utf8), to: path)
    }

    /// The saved alerts and when they were saved; nil when there is no file. A file that cannot
    /// be read is moved aside (`.corrupt`) and reported, never fatal.
    package static func load(from path: String, logger: Logger) -> (
        alerts: [RuleEngine.ActiveAlert], episodes: [Exceedance], saved: EventTime
    )? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            let document = try JSONValue.parse(Array(data))
            guard document["version"]?.number == Double(version), let saved = document["saved_ms"]?.number,
                case .array(let items)? = document["alerts"]
            else { throw FeedError("unknown layout or version") }
            // A damaged file may hold any number: times are checked, never trusted to convert.
            func time(_ value: Double?) throws -> EventTime {
                guard let value, let ms = Int64(exactly: value.rounded()), let time = EventTime(checkedMilliseconds: ms)
                else { throw FeedError("a time is missing or out of range") }
                return time
            }
            func series(_ item: JSONValue) throws -> SeriesID {
                guard let park = item["park"]?.string, let zone = item["zone"]?.string,
                    let pillar = item["pillar"]?.string.flatMap(Pillar.init(rawValue:)),
                    let kind = item["kind"]?.string, let sensor = item["sensor"]?.string
                else { throw FeedError("an entry lacks a series field") }
                return SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
            }
            var alerts: [RuleEngine.ActiveAlert] = []
            for item in items {
                guard let rule = item["rule"]?.string else { throw FeedError("an alert entry lacks its rule") }
                let since = try time(item["since_ms"]?.number)
                let phase: AlertTracker.Phase
                switch item["phase"]?.string {
                case "pending": phase = .pending(since: since)
                case "firing":
                    let notified = item["notified_ms"] == nil ? since : try time(item["notified_ms"]?.number)
                    phase = .firing(since: since, notified: notified)
                default: throw FeedError("an alert entry has an unknown phase")
                }
                alerts.append(RuleEngine.ActiveAlert(rule: rule, series: try series(item), phase: phase))
            }
            var episodes: [Exceedance] = []
            if case .array(let open)? = document["episodes"] {
                for item in open {
                    // Files written before spans named their rule carry it at the head of the id.
                    guard
                        let rule = item["rule"]?.string
                            ?? item["id"]?.string?.split(separator: "/").first.map(String.init)
                    else { throw FeedError("an episode lacks its rule") }
                    let end = item["end_ms"] == nil ? nil : try time(item["end_ms"]?.number)
                    episodes.append(
                        Exceedance(
                            rule: rule, series: try series(item), since: try time(item["since_ms"]?.number), end: end))
                }
            }
            return (alerts, episodes, try time(saved))
        } catch {
            StateFile.moveAside(path, what: "alert state", error: error, then: "starting without it", logger: logger)
            return nil
        }
    }
}
