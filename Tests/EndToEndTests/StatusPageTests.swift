import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// The status page at `/`, in a real headless Chromium from Debian, against a parkd fed by a
/// real broker: tiles, alerts, silent sensors and sparklines in the DOM, names as text.
@Suite("Status page")
struct StatusPageTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    func chromium(_ arguments: [String], in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("chromium-\(UUID().uuidString).out").path
        let profile = directory.appendingPathComponent("profile-\(UUID().uuidString)").path
        let process = try ChildProcess(
            try #require(Self.chromium),
            ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)"] + arguments,
            outputPath: path)
        #expect(process.wait(timeout: 60) == 0)
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    @Test("tiles, firing alerts, stale and never-seen sensors, sparklines; a sensor named with markup is text")
    func page() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "page")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-page", summaries: "summaries.jsonl")
                    + """

                    rules:
                      - {id: pm25-high, severity: critical, match: {kind: pm25}, when: {above: 50}}
                      - {id: quiet, stale: 2s, match: {kind: noise}}
                    expected_sensors:
                      - {park: p, zone: z, pillar: emissions, kind: pm25, sensor: never-1}
                    state_dir: state
                    """,
            arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(parkd.waitForLog("connected to"))
        #expect(parkd.waitForLog("HTTP endpoint on http://127.0.0.1:\(port)"))
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        let evil = "<img src=x onerror=document.title='pwned'>"
        let now = Int64(Date().timeIntervalSince1970)
        for k in 0..<10 {
            let t = now - 600 + Int64(k) * 60
            try sensor.publish(
                "parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(20 + k * 5), "ts": \#(t)}"#, qos: .atLeastOnce)
            try sensor.publish(
                "parks/p/z/energy/active_power/m-1", text: #"{"value": \#(400 + k), "ts": \#(t)}"#, qos: .atLeastOnce)
            try sensor.publish(
                "parks/p/z/emissions/pm10/\(evil)", text: #"{"value": \#(k), "ts": \#(t)}"#, qos: .atLeastOnce)
        }
        try sensor.publish("parks/p/z/emissions/noise/n-1", text: #"{"value": 50}"#, qos: .atLeastOnce)
        try sensor.flush()
        // A summary line (every second) and the noise sensor's 2 s of silence.
        Thread.sleep(forTimeInterval: 3.5)
        let dom = try chromium(
            ["--virtual-time-budget=3000", "--dump-dom", "http://127.0.0.1:\(port)/"], in: directory)
        #expect(
            dom.contains(#"data-park="p" data-pillar="emissions""#) && dom.contains(#"data-pillar="energy""#),
            "\(dom.prefix(2000))")
        #expect(dom.contains("pm25-high") && dom.contains("p/z/emissions/pm25/aq-1"))
        #expect(
            dom.contains("stale: p/z/emissions/noise/n-1") && dom.contains("never seen: p/z/emissions/pm25/never-1"))
        #expect(dom.contains(#"<svg class="spark""#) && dom.contains("<polyline points=\""))
        // The markup in the sensor's name is text: escaped in the DOM, no element made of it,
        // and its script never ran.
        #expect(dom.contains("&lt;img src=x onerror=document.title='pwned'&gt;"))
        #expect(!dom.contains("<img") && dom.contains("<title>parkd status</title>"))
        // The refresh replaces the body in place: after it, the same sections are there.
        // (A loaded machine may let Chromium's virtual time run out before the fetch answers:
        // up to three page loads, each with two refresh ticks.)
        var later = ""
        for _ in 0..<3 where !later.contains(#"data-refreshes=""#) {
            later = try chromium(
                ["--virtual-time-budget=12000", "--dump-dom", "http://127.0.0.1:\(port)/"], in: directory)
        }
        #expect(later.contains(#"id="tiles""#) && later.contains("pm25-high") && !later.contains("<img"))
        #expect(later.contains(#"data-refreshes=""#), "the body was never refreshed in place")
        // A screenshot of the page.
        let shot = directory.appendingPathComponent("page.png").path
        _ = try chromium(
            [
                "--window-size=1100,900", "--virtual-time-budget=2000", "--screenshot=\(shot)",
                "http://127.0.0.1:\(port)/",
            ],
            in: directory)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.count > 1000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        if let keep = ProcessInfo.processInfo.environment["PARKTELEMETRY_SCREENSHOT"] {
            try png.write(to: URL(fileURLWithPath: keep))
        }
        #expect(parkd.terminate() == 0)
        sensor.stop()
    }
}
