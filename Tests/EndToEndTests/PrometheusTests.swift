import BrokerHarness
import Foundation
import TelemetryCore
import Testing

/// parkd's sensor figures scraped by a real Prometheus (Debian's), fed by parksim through a
/// real mosquitto, and read back through Prometheus' query API as a Grafana panel would.
@Suite("Sensor figures in a real Prometheus", .serialized)
struct PrometheusTests {
    /// A feed file of PM2.5 stations over the clock hour that ended last (`lateness: 1s` closes
    /// it at once; an earlier hour would be followed by a silent one, the latest period then):
    /// one reading a minute, 50, 52, 54, 56, 58 in turn (60 readings).
    /// Hand-worked: the hour's mean is 12 × (50+52+54+56+58) / 60 = 3240 / 60 = 54, above the
    /// test rule's 50, so the hour is exceeded; the last reading (minute 59) is 50 + 4·2 = 58.
    static func feed(stations: [String], directory: URL) throws -> (path: String, hourStart: Int64) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let hourStart = now - now % 3_600_000 - 3_600_000
        var lines: [String] = []
        for k in 0..<60 {
            let t = hourStart + Int64(k) * 60_000
            for station in stations {
                let payload = #"{\"value\": \#(50 + (k % 5) * 2), \"ts\": \#(t)}"#
                lines.append(
                    #"{"t": \#(Double(t) / 1000), "topic": "parks/p/fence/emissions/pm25/\#(station)", "payload": "\#(payload)"}"#
                )
            }
        }
        let path = directory.appendingPathComponent("feed.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, hourStart)
    }

    static func configuration(broker: Broker, port: Int, clientID: String, maxSeries: Int) -> String {
        """
        broker:
          url: \(broker.url)
          client_id: \(clientID)
          reconnect: {initial: 100ms, max: 1s}
        subscriptions: [{filter: "parks/#", qos: 1}]
        http: {listen: "127.0.0.1:\(port)"}
        summaries: {path: summaries.jsonl, interval: 1s}
        lateness: 1s
        state_dir: state
        rules:
          - {id: pm25-1h, description: "PM2.5 1 h mean above 50 (test limit)", severity: critical, require_valid: true, reference: "test", match: {kind: pm25}, when: {window: 1h, stat: mean, above: 50}}
        prometheus: {windows: [1h], max_series: \(maxSeries)}
        """
    }

    static func replay(_ broker: Broker, _ feed: String, _ directory: URL) throws {
        let parksim = try ChildProcess(
            try BuiltProduct.path("parksim"), ["replay", feed, "--url", broker.url, "--qos", "1"],
            outputPath: directory.appendingPathComponent("parksim.out").path)
        #expect(parksim.wait(timeout: 60) == 0)
    }

    /// Polls an instant query until `done` holds for its result, within a bound.
    static func eventually(
        _ prometheus: PrometheusServer, _ query: String, timeout: Double = 30,
        _ done: ([(labels: [String: String], value: String)]) -> Bool
    ) -> [(labels: [String: String], value: String)] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var last: [(labels: [String: String], value: String)] = []
        while Date() < deadline {
            last = (try? prometheus.query(query)) ?? []
            if done(last) { return last }
            usleep(250_000)
        }
        return last
    }

    @Test("Prometheus' API returns a station's last PM2.5, its 1 h mean and its exceeded hour, as parksim sent them")
    func stationFigures() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "prometheus-figures")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: Self.configuration(broker: broker, port: port, clientID: "parkd-prom", maxSeries: 100))
        #expect(parkd.waitForLog("subscribed to"))
        let prometheus = try PrometheusServer(targets: [("parkd-sensors", port, "/metrics/sensors")])
        defer { prometheus.stop() }
        let (feed, hourStart) = try Self.feed(stations: ["aq-1"], directory: directory)
        try Self.replay(broker, feed, directory)

        let station = #"{sensor="aq-1",kind="pm25"}"#
        // The last reading's own time first: once Prometheus has it, the replay is complete.
        let lastTime = String((hourStart + 59 * 60_000) / 1000)
        let time = Self.eventually(prometheus, "parkd_sensor_last_timestamp_seconds\(station)") {
            $0.first?.value == lastTime
        }
        #expect(time.first?.value == lastTime, "\(time)")
        let last = Self.eventually(prometheus, "parkd_sensor_micrograms_per_cubic_meter\(station)") {
            $0.first?.value == "58"
        }
        #expect(last.first?.value == "58", "\(last)")
        #expect(last.first?.labels["park"] == "p" && last.first?.labels["zone"] == "fence")
        #expect(last.first?.labels["pillar"] == "emissions" && last.first?.labels["job"] == "parkd-sensors")
        let mean = Self.eventually(
            prometheus, #"parkd_sensor_window_mean_micrograms_per_cubic_meter{sensor="aq-1",window="1h"}"#
        ) { $0.first?.value == "54" }
        #expect(mean.first?.value == "54", "\(mean)")
        // The closed hour's compliance record: value 54 against 50, exceeded, full capture.
        // Over the last 5 minutes of scrapes: should the clock pass the next hour meanwhile,
        // the (silent) next hour becomes the latest period, and the hour asked about is older.
        let rule = #"{sensor="aq-1",rule="pm25-1h",period="1h"}"#
        let exceeded = Self.eventually(prometheus, "max_over_time(parkd_compliance_exceeded\(rule)[5m])") {
            $0.first?.value == "1"
        }
        #expect(exceeded.first?.value == "1", "\(exceeded)")
        #expect(try prometheus.query("max_over_time(parkd_compliance_value\(rule)[5m])").first?.value == "54")
        #expect(try prometheus.query("max_over_time(parkd_compliance_limit\(rule)[5m])").first?.value == "50")
        #expect(try prometheus.query("max_over_time(parkd_compliance_capture_ratio\(rule)[5m])").first?.value == "1")
        #expect(parkd.terminate() == 0)
    }

    @Test("the series cap: Prometheus holds max_series stations, the rest are counted and logged once")
    func cardinalityCap() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "prometheus-cap")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: Self.configuration(broker: broker, port: port, clientID: "parkd-prom-cap", maxSeries: 3))
        #expect(parkd.waitForLog("subscribed to"))
        let prometheus = try PrometheusServer(targets: [("parkd-sensors", port, "/metrics/sensors")])
        defer { prometheus.stop() }
        let stations = (1...5).map { "aq-\($0)" }
        let (feed, _) = try Self.feed(stations: stations, directory: directory)
        try Self.replay(broker, feed, directory)
        let dropped = Self.eventually(prometheus, "parkd_sensor_exposition_dropped_series") { $0.first?.value == "2" }
        #expect(dropped.first?.value == "2", "\(dropped)")
        let held = Self.eventually(prometheus, "count(parkd_sensor_micrograms_per_cubic_meter)") {
            $0.first?.value == "3"
        }
        #expect(held.first?.value == "3", "\(held)")
        // The same three (identity order) on every scrape: aq-1 to aq-3.
        let names = try prometheus.query("parkd_sensor_micrograms_per_cubic_meter").compactMap { $0.labels["sensor"] }
        #expect(names.sorted() == ["aq-1", "aq-2", "aq-3"])
        #expect(try prometheus.query("parkd_sensor_exposition_series").first?.value == "3")
        Thread.sleep(forTimeInterval: 2)  // more scrapes: still one log line
        // A scrape during the replay may have seen 4 series over the cap first: one line either way.
        let warnings = parkd.log.components(separatedBy: "the sensor exposition shows 3 of").count - 1
        #expect(warnings == 1, "\(parkd.log.suffix(2000))")
        #expect(parkd.terminate() == 0)
    }
}
