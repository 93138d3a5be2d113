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
                + "\nrules: [{id: high, severity: critical, match: {kind: pm25}, when: {above: 50}}]\nalerts: {path: alerts.jsonl}\n"
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
        try sensor.flush()
        Thread.sleep(forTimeInterval: 1.5)

        let metrics = try HTTPGet.get(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        func value(_ line: String) -> Double? {
            metrics.body.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap {
                Double($0.split(separator: " ").last ?? "")
            }
        }
        #expect(value("parkd_messages_total") == 4, "\(metrics.body)")
        #expect(value("parkd_readings_total") == 3)
        #expect(value(#"parkd_rejected_total{reason="malformed"}"#) == 1)
        #expect(value(#"parkd_reading_outcomes_total{outcome="accepted"}"#) == 3)
        #expect(value("parkd_series_count") == 1)
        #expect(value("parkd_alerts_firing_count") == 1)
        #expect(value("parkd_mqtt_connected_state") == 1)
        #expect(value(#"parkd_alert_transitions_total{state="firing"}"#) == 1)
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
