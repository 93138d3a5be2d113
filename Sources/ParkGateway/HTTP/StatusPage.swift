import Foundation
import Mustache
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// The page at `/`: a tile per park and pillar, the alerts firing, stale and never-seen
/// sensors, and a sparkline of each sensor's last hour. Rendered on the server with Mustache
/// (every name from the wire escaped) and refreshed in place: the page fetches its own body
/// (`/?part=body`) every 5 seconds. No external assets: gateways are often offline.
package enum StatusPage {
    package static let sensorsShown = 300

    package static let body = """
        <p class="meta">parkd · {{now}} · {{seriesTotal}} series · {{messages}} messages · broker {{broker}}</p>
        <section id="tiles">
        {{#tiles}}<div class="tile {{pillar}}" data-park="{{park}}" data-pillar="{{pillar}}">
        <h2>{{park}} <span class="pillar">{{pillar}}</span></h2>
        <p class="sensors">{{reporting}} / {{known}} sensors reporting ({{period}} to {{to}}){{#stale}} · <b class="bad">{{stale}} stale</b>{{/stale}}</p>
        <ul>{{#figures}}<li><span>{{name}}</span> <b>{{value}}</b></li>{{/figures}}</ul>
        </div>{{/tiles}}
        {{^tiles}}<p>No summary yet: the first one comes at the end of the first interval.</p>{{/tiles}}
        </section>
        <h2>Alerts firing</h2>
        <table id="alerts"><tr><th>rule</th><th>sensor</th><th>since</th></tr>
        {{#alerts}}<tr class="alert"><td>{{rule}}</td><td>{{series}}</td><td>{{since}}</td></tr>{{/alerts}}
        </table>
        {{^alerts}}<p>None.</p>{{/alerts}}
        <h2>Stale and never seen</h2>
        <ul id="silent">{{#stale}}<li class="stale">stale: {{.}}</li>{{/stale}}{{#neverSeen}}<li class="never">never seen: {{.}}</li>{{/neverSeen}}</ul>
        <h2>Sensors, last hour</h2>
        <table id="sensors"><tr><th>sensor</th><th>last hour</th><th>latest</th></tr>
        {{#sensors}}<tr class="sensor"><td>{{series}}</td><td><svg class="spark" width="160" height="28" viewBox="0 0 160 28"><polyline points="{{points}}"/></svg></td><td class="num">{{latest}}</td></tr>{{/sensors}}
        </table>
        {{#more}}<p>{{more}} more series not shown.</p>{{/more}}
        """

    package static let page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>parkd status</title>
        <style>
        body { font-family: "DejaVu Sans", sans-serif; font-size: 13px; margin: 16px; color: #1a1a1a; }
        h1 { font-size: 20px; margin: 0; } h2 { font-size: 15px; margin: 16px 0 6px; }
        .meta { color: #555; } #tiles { display: flex; flex-wrap: wrap; gap: 10px; }
        .tile { border: 1px solid #bbb; border-radius: 6px; padding: 8px 12px; min-width: 220px; background: #fafafa; }
        .tile h2 { margin: 0 0 4px; font-size: 14px; } .tile ul { margin: 0; padding-left: 16px; }
        .tile.energy { border-top: 4px solid #e0a800; } .tile.emissions { border-top: 4px solid #7a5195; }
        .tile.green { border-top: 4px solid #2e8b57; } .pillar { color: #666; font-weight: normal; }
        table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
        .bad { color: #b00020; } .spark polyline { fill: none; stroke: #4a7fb5; stroke-width: 1.5; } .num { text-align: right; }
        </style>
        </head>
        <body>
        <h1>parkd status</h1>
        <main id="status">{{> body}}</main>
        <script>
        // Refresh in place: the server renders (and escapes) the body; no external asset.
        setInterval(async () => {
          try {
            const response = await fetch('/?part=body', {cache: 'no-store'});
            if (response.ok) {
              document.getElementById('status').innerHTML = await response.text();
              document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
            }
          } catch (e) { /* parkd restarting: the next tick tries again */ }
        }, 5000);
        </script>
        </body>
        </html>
        """

    package static let library: MustacheLibrary? = {
        guard let body = try? MustacheTemplate(string: body), let page = try? MustacheTemplate(string: page) else {
            return nil
        }
        return MustacheLibrary(templates: ["body": body, "page": page])
    }()

    /// One park and pillar of the last summary line with readings in it: the figures a tile
    /// shows, taken from the summary's values as it was written.
    package struct Tile: Sendable, Equatable {
        package var park: String
        package var pillar: String
        package var reporting: Int
        package var known: Int
        package var stale: Int
        package var figures: [(name: String, value: Double)]
        package var period: String
        /// The interval's end, local time of day (HH:MM:SS).
        package var to: String

        package init(park summary: ParkSummary, period: String, to: String) {
            park = summary.park
            pillar = summary.pillar.rawValue
            reporting = summary.reportingSensors
            known = summary.knownSensors
            stale = summary.staleSensors
            var figures: [(String, Double)] = []
            func add(_ name: String, _ value: Double?) { if let value { figures.append((name, value)) } }
            add("energy kWh", summary.energyKWh)
            add("renewable share %", summary.renewableShare.map { $0 * 100 })
            add("peak demand kW", summary.peakDemandKW)
            for (kind, value) in summary.means.sorted(by: { $0.key < $1.key }).prefix(6) { add(kind, value) }
            add("green coverage %", summary.greenCoverage.map { $0 * 100 })
            self.figures = figures
            self.period = period
            self.to = to
        }

        package static func == (a: Tile, b: Tile) -> Bool {
            a.park == b.park && a.pillar == b.pillar && a.reporting == b.reporting && a.known == b.known
                && a.stale == b.stale && a.period == b.period && a.to == b.to
                && a.figures.map(\.name) == b.figures.map(\.name) && a.figures.map(\.value) == b.figures.map(\.value)
        }

        /// What the template reads.
        var view: [String: Any] {
            [
                "park": park, "pillar": pillar, "reporting": reporting, "known": known,
                "stale": stale > 0 ? stale : false,
                "figures": figures.map { ["name": $0.name, "value": String(format: "%.1f", $0.value)] },
                "period": period, "to": to,
            ]
        }
    }

    /// A polyline's points for readings (time, value), scaled into 160 × 28.
    package static func sparkline(_ points: [(time: Int64, value: Double)], now: Int64) -> String {
        guard !points.isEmpty else { return "" }
        let from = now - 3_600_000
        let shown = points.filter { $0.time >= from }
        let chosen = shown.isEmpty ? Array(points.suffix(1)) : shown
        let low = chosen.map(\.value).min()!
        let high = chosen.map(\.value).max()!
        let span = high > low ? high - low : 1
        return chosen.map { point in
            let x = 2 + 156 * Double(max(0, point.time - from)) / 3_600_000
            let y = 26 - 24 * (point.value - low) / span
            return String(format: "%.1f,%.1f", min(158, x), y)
        }.joined(separator: " ")
    }

    package static func render(
        part: Bool, tiles entries: [Tile], pipeline: IngestPipeline, history: HistoryReader?, broker: String,
        utcOffsetMinutes: Int
    ) -> String {
        let now = WallClock.now()
        let view = pipeline.statusView(limit: sensorsShown)
        let tiles = entries.map(\.view)
        // The last hour from the history store's rollups, then the latest raw readings.
        var hour: [SeriesID: [(time: Int64, value: Double)]] = [:]
        if let history,
            let rows = try? history.rollups(
                matching: SeriesMatcher(), from: now.milliseconds - 3_600_000, to: now.milliseconds, resolution: 0)
        {
            for row in rows { hour[row.series, default: []].append((row.start, row.leq ?? row.mean)) }
        }
        let sensors = view.recent.map { series, readings -> [String: Any] in
            let stored = hour[series] ?? []
            let after = stored.last?.time ?? .min
            let points = stored + readings.filter { $0.time > after }
            return [
                "series": series.description, "points": sparkline(points, now: now.milliseconds),
                "latest": readings.last.map { JSONLine.number($0.value) } ?? "–",
            ]
        }
        let alerts = pipeline.firingAlerts.map { alert -> [String: Any] in
            [
                "rule": alert.rule, "series": alert.series.description,
                "since": String(RFC3339.format(alert.since, offsetMinutes: utcOffsetMinutes).prefix(19)),
            ]
        }
        let context: [String: Any] = [
            "now": String(RFC3339.format(now, offsetMinutes: utcOffsetMinutes).prefix(19)),
            "seriesTotal": view.seriesTotal, "messages": pipeline.status.totals.messages, "broker": broker,
            "tiles": tiles, "alerts": alerts, "stale": view.stale.map(\.description),
            "neverSeen": view.neverSeen.map(\.description), "sensors": sensors,
            "more": view.seriesTotal > sensorsShown ? view.seriesTotal - sensorsShown : false,
        ]
        return library?.render(context, withTemplate: part ? "body" : "page") ?? "template error"
    }
}
