import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("SIGHUP reload")
struct ReloadTests {
    @Test("a valid file replaces the rules while running; an invalid one is refused and the old one kept")
    func reload() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "reload")
        defer { try? FileManager.default.removeItem(at: directory) }
        func configuration(limit: Int, summaries: String = "summaries.jsonl", later: Bool = false) -> String {
            var text = ParkdProcess.configuration(brokerURL: broker.url, clientID: "parkd-reload", summaries: summaries)
            var rules = "{id: high, severity: critical, match: {kind: pm25}, when: {above: \(limit)}}"
            if later {
                // A new per-series file, and a rule reading a quantile the running windows do not keep.
                text = text.replacingOccurrences(of: "series_path: series.jsonl", with: "series_path: series-2.jsonl")
                rules += ", {id: p95, match: {kind: pm25}, when: {window: 1h, stat: p95, above: 1000}}"
            }
            return text + "\nrules: [\(rules)]\nalerts: {path: alerts.jsonl}\n"
        }
        let parkd = try ParkdProcess(directory: directory, configuration: configuration(limit: 50))
        #expect(parkd.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        func send(_ value: Int) throws {
            try sensor.publish("parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(value)}"#, qos: .atLeastOnce)
            try sensor.flush()
            Thread.sleep(forTimeInterval: 0.3)
        }
        func alerts() -> String {
            (try? String(contentsOf: directory.appendingPathComponent("alerts.jsonl"), encoding: .utf8)) ?? ""
        }
        let path = directory.appendingPathComponent("parkd.yaml")

        try send(40)
        #expect(alerts().isEmpty)

        try configuration(limit: 30, summaries: "summaries-2.jsonl", later: true).write(
            to: path, atomically: true, encoding: .utf8)
        parkd.process.signal(SIGHUP)
        #expect(parkd.waitForLog("configuration reloaded: 2 rules"))
        #expect(parkd.log.contains("which windows keep quantile sketches or full detail changed"))
        try send(40)
        Thread.sleep(forTimeInterval: 1.2)
        #expect(alerts().contains(#""state":"firing""#))
        // The summaries now go to the new file.
        let second = directory.appendingPathComponent("summaries-2.jsonl").path
        #expect(((try? String(contentsOfFile: second, encoding: .utf8)) ?? "").contains(#""type":"ingest""#))
        let detail = directory.appendingPathComponent("series-2.jsonl").path
        #expect(((try? String(contentsOfFile: detail, encoding: .utf8)) ?? "").contains(#""sensor":"aq-1""#))

        try "broker: {url: mqtt://h\nrules: [".write(to: path, atomically: true, encoding: .utf8)
        parkd.process.signal(SIGHUP)
        #expect(parkd.waitForLog("reload refused, keeping the running configuration"))
        #expect(parkd.log.contains("parkd.yaml"))
        try send(20)  // still running on the last good configuration: 20 < 30 resolves the alert
        Thread.sleep(forTimeInterval: 1.2)
        #expect(alerts().contains(#""state":"resolved""#))
        #expect(parkd.process.isRunning)
        #expect(parkd.terminate() == 0)
    }

    /// A Unix datagram socket standing in for systemd's notification socket.
    final class NotifySocket {
        let path: String
        let fd: Int32
        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard fd >= 0, bound == 0 else { throw HarnessError("cannot bind \(path)") }
            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        /// The next message, or nil after 15 s.
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }
        deinit { close(fd) }
    }

    @Test(
        "parkd tells systemd READY=1 only with its SIGHUP handler in place; 50 SIGHUPs in 5 s after it are survived, and --broker outlives every reload"
    )
    func readyThenReloads() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "notify")
        defer { try? FileManager.default.removeItem(at: directory) }
        let notify = try NotifySocket(path: directory.appendingPathComponent("notify.sock").path)
        // The file names a broker that does not exist; only --broker gives the real one.
        let path = directory.appendingPathComponent("parkd.yaml").path
        try ParkdProcess.configuration(
            brokerURL: "mqtt://127.0.0.1:1", clientID: "parkd-notify", summaries: "summaries.jsonl"
        )
        .write(toFile: path, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        let log = directory.appendingPathComponent("parkd.log").path
        let process = try ChildProcess(
            try BuiltProduct.path("parkd"), ["run", "--config", path, "--broker", broker.url], outputPath: log,
            environment: environment)
        #expect(notify.receive()?.hasPrefix("READY=1") == true)
        // A change that cannot apply while running is named in the log, not ignored.
        try
            (ParkdProcess.configuration(
                brokerURL: "mqtt://127.0.0.1:1", clientID: "parkd-notify", summaries: "summaries.jsonl")
            + "\nlateness: 10m\ncatalog: [{kind: chlorine, pillar: emissions, unit: mg/L, min: 0, max: 50}]\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        for _ in 0..<50 {
            process.signal(SIGHUP)
            usleep(100_000)
        }
        Thread.sleep(forTimeInterval: 1)
        #expect(process.isRunning)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("configuration reloaded"))
        #expect(text.contains("changes to catalog, lateness take effect at the next restart"), "\(text)")
        #expect(!text.contains("broker settings changed"), "a reload dropped --broker")
        process.signal(SIGTERM)
        #expect(process.wait(timeout: 15) == 0)
        #expect(notify.receive() == "STOPPING=1")
    }
}

@Suite("SIGHUP reload of the broker section")
struct WatchdogReloadTests {
    /// A reload that changes only `broker.watchdog` used to be ignored (the broker's identity
    /// left it out), and /healthz kept the traffic timeout it was started with.
    @Test("a reload that changes only the watchdog reconnects, and /healthz judges traffic by the new one")
    func watchdogOnly() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "reload-watchdog")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        func configuration(watchdog: String) -> String {
            ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-watchdog", summaries: "summaries.jsonl",
                extraBroker: "  watchdog: \(watchdog)")
        }
        let parkd = try ParkdProcess(
            directory: directory, configuration: configuration(watchdog: "1h"),
            arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(parkd.waitForLog("connected to"))
        #expect(parkd.waitForLog("HTTP endpoint on"))
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        try sensor.publish("parks/p/z/emissions/pm25/aq-1", text: #"{"value": 5}"#, qos: .atLeastOnce)
        try sensor.flush()
        // Healthy under a one-hour watchdog, quiet or not.
        #expect(Province.wait(10) { (try? HTTPGet.get(port: port, path: "/healthz").status) == 200 })

        try configuration(watchdog: "2s").write(
            to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        parkd.process.signal(SIGHUP)
        #expect(parkd.waitForLog("reload: broker settings changed; reconnecting"))
        #expect(parkd.waitForLog("configuration reloaded"))
        #expect(!parkd.log.contains("take effect at the next restart"))
        // No traffic for more than the new 2 s: /healthz says so.
        #expect(
            Province.wait(15) {
                guard let answer = try? HTTPGet.get(port: port, path: "/healthz") else { return false }
                return answer.status == 503 && answer.body.contains(#""traffic_recent":false"#)
            })
        parkd.process.signal(SIGTERM)
        #expect(parkd.process.wait(timeout: 15) == 0)
    }
}
