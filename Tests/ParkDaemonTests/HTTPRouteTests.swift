import BrokerHarness
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TelemetryCore
import Testing

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

/// The HTTP routes run in-process (`InProcessHTTP`: the router's responder, no socket, no sleeps) against a
/// real pipeline fed here.
@Suite("HTTP routes, in-process")
struct HTTPRouteTests {
    static let now = EventTime(milliseconds: 1_767_225_600_000)  // 2026-01-01T00:00:00Z

    static func gateway(historyOff: Bool = true) throws -> (Observability, IngestPipeline) {
        let configuration = try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1883", watchdog: 1h}
            history: {path: off}
            rules: [{id: high, severity: critical, match: {kind: pm25}, when: {above: 50}}]
            """, file: "/etc/parkd/parkd.yaml")
        let pipeline = IngestPipeline(settings: configuration.pipelineSettings, logger: Logger(label: "test"))
        let observability = Observability(pipeline: pipeline)
        observability.apply(Observability.Settings(configuration))
        for (n, value) in [10, 20, 70].enumerated() {
            pipeline.ingest(
                topic: "parks/p1/z1/emissions/pm25/aq-1", payload: Array(#"{"value": \#(value)}"#.utf8),
                arrival: EventTime(milliseconds: now.milliseconds + Int64(n) * 1000))
        }
        pipeline.ingest(topic: "parks/p1/z1/emissions/pm25/aq-1", payload: Array("broken".utf8), arrival: now)
        return (observability, pipeline)
    }

    @Test("/metrics counts what the pipeline took in; /healthz is degraded without a broker connection")
    func metricsAndHealth() async throws {
        let (o, pipeline) = try Self.gateway()
        let client = InProcessHTTP(HTTPEndpoint.router(o, pipeline: pipeline))
        do {
            do {
                let response = try await client.get("/metrics")
                #expect(response.status == .ok)
                let body = response.body
                #expect(body.contains("parkd_messages_total 4\n"), "\(body)")
                #expect(body.contains("parkd_readings_total 3\n"))
                #expect(body.contains(#"parkd_rejected_total{reason="malformed"} 1"#))
                #expect(body.contains("parkd_series_count 1.0\n"))
            }
            do {
                let response = try await client.get("/healthz")
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.status == .serviceUnavailable)
                #expect(response.body.contains(#""broker_connected":false"#))
            }
        }
    }

    @Test("the probe listener serves /healthz and /metrics, and nothing of the page or the API")
    func probeRoutes() async throws {
        let (o, _) = try Self.gateway()
        let client = InProcessHTTP(HTTPEndpoint.probeRouter(o))
        #expect(try await client.get("/metrics").body.contains("parkd_messages_total 4\n"))
        let health = try await client.get("/healthz")
        #expect(health.status == .serviceUnavailable && health.headers[.xContentTypeOptions] == "nosniff")
        for path in ["/", "/api/alerts", "/api/history"] { #expect(try await client.get(path).status == .notFound) }
        let parsed = try DaemonConfiguration.parse(
            "broker: {url: mqtt://h}\nhttp: {listen: 127.0.0.1:9108, probes: 127.0.0.1:9118}\n", file: "/p.yaml")
        #expect(parsed.probeListen == HTTPListen(host: "127.0.0.1", port: 9118))
        #expect(parsed.effectiveYAML.contains(#"http: {listen: "127.0.0.1:9108", probes: "127.0.0.1:9118"}"#))
    }

    @Test("the JSON API: firing alerts, one series' windows, clear errors for a bad or unknown series")
    func api() async throws {
        let (o, pipeline) = try Self.gateway()
        pipeline.tick(at: Self.now)
        let client = InProcessHTTP(HTTPEndpoint.router(o, pipeline: pipeline))
        do {
            do {
                let response = try await client.get("/api/alerts")
                #expect(response.status == .ok)
                #expect(response.body.contains(#""rule":"high""#))
            }
            do {
                let response = try await client.get(
                    "/api/series?park=p1&zone=z1&pillar=emissions&kind=pm25&sensor=aq-1")
                #expect(response.status == .ok)
                #expect(response.body.contains("\"1m\""), "\(response.body)")
            }
            do {
                let response = try await client.get("/api/series?park=p1")
                #expect(response.status == .badRequest)
            }
            do {
                let response = try await client.get(
                    "/api/series?park=p1&zone=z1&pillar=emissions&kind=pm25&sensor=nope")
                #expect(response.status == .notFound)
            }
            do {
                let response = try await client.get("/api/history")
                #expect(response.status == .notFound)
                #expect(response.body.contains("keeps no history"))
            }
            do {
                let response = try await client.get("/api/summary")
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("the status page shows tiles from the summary's values, and the broker in force after a reload")
    func statusPage() async throws {
        let (o, pipeline) = try Self.gateway()
        let to = EventTime(milliseconds: Self.now.milliseconds + 60_000)
        let snapshot = pipeline.takeInterval(schedule: 0, from: Self.now, to: to, details: false)
        #expect(snapshot.parks.contains { $0.park == "p1" && $0.readings == 3 })
        o.noteSummary(SummaryLine(text: #"{"period":"1m"}"#, period: "1m", to: to, parks: snapshot.parks))
        var settings = o.settings
        settings.broker = "mqtts://127.0.0.9:8883"
        o.apply(settings)
        let client = InProcessHTTP(HTTPEndpoint.router(o, pipeline: pipeline))
        do {
            do {
                let response = try await client.get("/")
                #expect(response.status == .ok)
                let html = response.body
                #expect(html.contains(#"data-park="p1" data-pillar="emissions""#), "\(html)")
                // 07:01:00 local (UTC+7) is the interval's end; the mean of 10, 20 and 70.
                #expect(html.contains("07:01:00"))
                #expect(html.contains("33.3"))
                #expect(html.contains("mqtts://127.0.0.9:8883"))
            }
            do {
                let response = try await client.get("/api/summary")
                #expect(response.status == .ok)
                #expect(response.body == #"{"period":"1m"}"# + "\n")
            }
        }
        // The tile is the values, not re-read text.
        let tile = try #require(o.tiles.first)
        #expect(tile.park == "p1" && tile.pillar == "emissions" && tile.reporting == 1 && tile.period == "1m")
        #expect(tile.figures.first { $0.name == "pm25" }?.value == 100.0 / 3)
    }

    @Test("parkd-central's /metrics and /healthz in-process: no shard yet is healthy and empty")
    func central() async throws {
        let directory = try Scratch.makeDirectory(prefix: "http-central")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("central.yaml").path
        try """
        broker: {url: "mqtt://127.0.0.1:1883"}
        shards: [s1]
        postgres: "host=127.0.0.1 dbname=province"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try CentralConfiguration.load(path: path)
        let worker = CentralWorker(configuration: configuration, logger: Logger(label: "test"))
        let metrics = CentralMetrics()
        let client = InProcessHTTP(CentralEndpoint.router(worker, metrics: metrics))
        do {
            do {
                let response = try await client.get("/healthz")
                // The worker has not reached its database yet: not healthy until it has.
                #expect(response.status == .serviceUnavailable)
                #expect(response.body == #"{"status":"degraded","database":"not reached yet","shards":[]}"# + "\n")
            }
        }
        // Counters advance by what a shard counted since the last scrape; a shard that moved
        // away leaves the exposition.
        var s1 = CentralWorker.ShardStatus(
            shard: "s1", batches: 2, stored: 10, duplicates: 1, refused: 0, sessionConnected: true,
            databaseConnected: true)
        #expect(metrics.render([s1]).contains(#"parkd_central_items_stored_total{shard="s1"} 10"#))
        s1.stored = 15
        let text = metrics.render([s1])
        #expect(text.contains(#"parkd_central_items_stored_total{shard="s1"} 15"#))
        #expect(text.contains(#"parkd_central_session_connected{shard="s1"} 1.0"#))
        #expect(!metrics.render([]).contains("shard=\"s1\""))
    }

    @Test("/api/history streams a large reply, one series' rows picked out of three in SQL, as JSON and CSV")
    func historyStreamed() async throws {
        let (o, pipeline) = try Self.gateway()
        let directory = try Scratch.makeDirectory(prefix: "http-history-stream")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("history.sqlite").path
        let store = try HistoryStore(path: path)
        var batch = HistoryBatch()
        for sensor in ["aq-1", "aq-2", "aq-3"] {
            let series = SeriesID(park: "p1", zone: "z1", pillar: .emissions, kind: "pm25", sensor: sensor)
            for k in 0..<2_000 {
                batch.rollups.append(
                    Rollup(
                        series: series, start: Self.now.milliseconds - Int64(k + 1) * 300_000, count: 1, sum: 5, min: 5,
                        max: 5, last: 5))
            }
        }
        try store.write(batch, retention: HistoryRetention())
        var settings = o.settings
        settings.historyPath = path
        o.apply(settings)
        // The bound counts only the series asked for: 2 000 rows of 6 000 in the period.
        let client = InProcessHTTP(HTTPEndpoint.router(o, pipeline: pipeline, maxHistoryRows: 2_000))
        let query = "series=p1/z1/emissions/pm25/aq-2&from=2025-12-24T00:00:00Z&to=2026-01-01T00:00:00Z"
        let json = try await client.get("/api/history?\(query)")
        #expect(json.status == .ok && json.body.utf8.count > 65_536)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.body.utf8)) as? [[String: Any]])
        #expect(rows.count == 2_000)
        #expect(rows.allSatisfy { $0["sensor"] as? String == "aq-2" }, "\(rows.first ?? [:])")
        let csv = try await client.get("/api/history?\(query)&format=csv")
        let lines = csv.body.split(separator: "\n")
        #expect(lines.count == 2_001 && lines[0].hasPrefix("series,from,count"))
        #expect(lines.dropFirst().allSatisfy { $0.contains("aq-2") })
    }

    @Test("/api/history answers a bounded period and number of rows, with a clear 400 past them")
    func historyBounds() async throws {
        let (o, pipeline) = try Self.gateway()
        let directory = try Scratch.makeDirectory(prefix: "http-history")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("history.sqlite").path
        let store = try HistoryStore(path: path)
        var batch = HistoryBatch()
        for k in 0..<3 {
            batch.rollups.append(
                Rollup(
                    series: SeriesIDFixture.aq1, start: Self.now.milliseconds - Int64(k + 1) * 300_000, count: 1,
                    sum: 5, min: 5, max: 5, last: 5))
        }
        try store.write(batch, retention: HistoryRetention())
        var settings = o.settings
        settings.historyPath = path
        o.apply(settings)
        let client = InProcessHTTP(HTTPEndpoint.router(o, pipeline: pipeline, maxHistoryRows: 2))
        let from = "2025-12-31T23:00:00Z"
        let to = "2026-01-01T00:00:00Z"
        let within = try await client.get("/api/history?series=p1&from=\(from)&to=\(to)&resolution=1h")
        // Three stored rows, one past the bound of two.
        #expect(within.status == .badRequest)
        #expect(within.body.contains("more than 2 stored rows match"))
        let narrow = try await client.get("/api/history?series=p1&from=2025-12-31T23:52:00Z&to=\(to)")
        #expect(narrow.status == .ok)
        #expect(narrow.body.contains(#""count":1"#))
        let ancient = try await client.get("/api/history?series=*&from=0001-01-02T00:00:00Z&to=\(to)")
        #expect(ancient.status == .badRequest)
        #expect(ancient.body.contains("spans more than 400 days"))
    }
}
