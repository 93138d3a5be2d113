import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("HTTP endpoint")
struct HTTPEndpointTests {
    @Test("/metrics, /healthz and the JSON API answer with the daemon's real figures")
    func endpoints() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "http")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-http", summaries: "summaries.jsonl")
                + "\nrules: [{id: high, severity: critical, match: {kind: pm25}, when: {above: 50}},"
                + " {id: loud, reference: R, require_valid: true, match: {kind: noise}, when: {window: 1h, stat: leq, above: 60}}]"
                + "\nalerts: {path: alerts.jsonl}\ncompliance: {path: compliance.jsonl}\n"
                + "windows: [{name: 1m, length: 1m, bucket: 15s}, {name: 1h, length: 1h, bucket: 15m, detail: true}]\n",
            arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(parkd.waitForLog("connected to"))
        #expect(parkd.waitForLog("HTTP endpoint on http://127.0.0.1:\(port)"))
        Thread.sleep(forTimeInterval: 0.5)
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        for value in [10, 20, 70] {
            try sensor.publish("parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(value)}"#, qos: .atLeastOnce)
        }
        try sensor.publish("parks/p/z/emissions/pm25/aq-1", text: "broken", qos: .atLeastOnce)
        // A noise station's clock hour two hours ago, one reading a quarter at 65 dBA, then one
        // in the next hour: that hour closes as a compliance record over the 60 dBA limit.
        let hour = (Int64(Date().timeIntervalSince1970) / 3600 - 2) * 3600
        for (offset, level) in [(0, 65), (900, 65), (1800, 65), (2700, 65), (3660, 50)] {
            try sensor.publish(
                "parks/p/z/emissions/noise/n-1", text: #"{"value": \#(level), "ts": \#(hour + Int64(offset))}"#,
                qos: .atLeastOnce)
        }
        try sensor.flush()
        Thread.sleep(forTimeInterval: 1.5)

        let metrics = try HTTPGet.get(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        func value(_ line: String) -> Double? {
            metrics.body.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap {
                Double($0.split(separator: " ").last ?? "")
            }
        }
        #expect(value("parkd_messages_total") == 9, "\(metrics.body)")  // 4 PM2.5 (one broken), 5 noise
        #expect(value("parkd_readings_total") == 8)
        #expect(value(#"parkd_rejected_total{reason="malformed"}"#) == 1)
        #expect(value(#"parkd_reading_outcomes_total{outcome="accepted"}"#) == 8)
        #expect(value("parkd_series_count") == 2)
        #expect(value("parkd_alerts_firing_count") == 2)  // high, and loud on its rolling hour
        #expect(value("parkd_mqtt_connected_state") == 1)
        #expect(value(#"parkd_alert_transitions_total{state="firing"}"#) == 2)
        #expect(value("parkd_alert_queue_messages") == 0)

        let health = try HTTPGet.get(port: port, path: "/healthz")
        #expect(
            health.status == 200 && health.body.contains(#""status":"ok""#)
                && health.body.contains(#""broker_connected":true"#))

        let series = try HTTPGet.get(
            port: port, path: "/api/series?park=p&zone=z&pillar=emissions&kind=pm25&sensor=aq-1")
        #expect(series.status == 200)
        let windows = try #require(
            try JSONSerialization.jsonObject(with: Data(series.body.utf8)) as? [String: [String: Any]])
        #expect(windows["1h"]?["count"] as? Int == 3 && windows["1h"]?["max"] as? Double == 70)
        // A lean window (no `detail: true`, no rule reading more) keeps count and mean only.
        #expect(windows["1m"]?["count"] as? Int == 3 && windows["1m"]?["max"] == nil)
        #expect(windows["1m"]?["mean"] as? Double == 100.0 / 3)  // (10 + 20 + 70) / 3
        #expect(try HTTPGet.get(port: port, path: "/api/series?park=p").status == 400)
        #expect(
            try HTTPGet.get(port: port, path: "/api/series?park=p&zone=z&pillar=green&kind=x&sensor=y").status == 404)

        let alerts = try HTTPGet.get(port: port, path: "/api/alerts")
        #expect(alerts.body.contains(#""rule":"high""#) && alerts.body.contains(#""sensor":"aq-1""#))
        let compliance = try HTTPGet.get(port: port, path: "/api/compliance?park=p&exceeded=true")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(compliance.body.utf8)) as? [String: Any])
        let records = try #require(answer["records"] as? [[String: Any]], "\(compliance.body)")
        #expect(
            records.count == 1 && records.first?["rule"] as? String == "loud"
                && records.first?["value"] as? Double == 65)
        #expect(records.first?["capture"] as? Double == 1 && records.first?["exceeded"] as? Bool == true)
        #expect(
            try String(contentsOf: directory.appendingPathComponent("compliance.jsonl"), encoding: .utf8).contains(
                #""rule":"loud""#))
        // The noise readings from the history store (written once their intervals are past
        // lateness and the series has been quiet for a summary interval), re-aggregated to
        // hours: the four at 65 dBA, then the one at 50.
        var history = try HTTPGet.get(
            port: port, path: "/api/history?series=p/z/emissions/noise&from=4h&resolution=1h")
        var rows = try #require(try JSONSerialization.jsonObject(with: Data(history.body.utf8)) as? [[String: Any]])
        let deadline = Date(timeIntervalSinceNow: 10)
        while rows.count < 2 && Date() < deadline {
            usleep(100_000)
            history = try HTTPGet.get(port: port, path: "/api/history?series=p/z/emissions/noise&from=4h&resolution=1h")
            rows = try #require(try JSONSerialization.jsonObject(with: Data(history.body.utf8)) as? [[String: Any]])
        }
        #expect(history.status == 200 && rows.count == 2, "\(history.body)")
        #expect(rows.first?["count"] as? Int == 4 && rows.first?["leq"] as? Double == 65)
        let badHistory = try HTTPGet.get(port: port, path: "/api/history?series=a/b/c/d/e/f")
        #expect(badHistory.status == 400 && badHistory.body.contains("expected a series"))
        let none = try HTTPGet.get(port: port, path: "/api/compliance?park=other")
        #expect(none.status == 200 && none.body.contains(#""records":[]"#))
        let summary = try HTTPGet.get(port: port, path: "/api/summary")
        #expect(summary.status == 200 && summary.body.contains(#""type":"ingest""#))

        // Without the broker the health check says so.
        broker.stop()
        Thread.sleep(forTimeInterval: 1.0)
        let degraded = try HTTPGet.get(port: port, path: "/healthz")
        #expect(degraded.status == 503 && degraded.body.contains(#""broker_connected":false"#))
        #expect(parkd.terminate() == 0)
    }
}
