import BrokerHarness
import Foundation
import MQTTClient
import TelemetryCore
import Testing

/// parkd as a Sparkplug B host against a real mosquitto and `parksim sparkplug` edge nodes:
/// every reading the nodes sent (their ground truth) is in parkd's series exactly, deaths make
/// series stale with alerts, gaps bring a rebirth, and a restart loses nothing.
@Suite("Sparkplug B end to end", .serialized)
struct SparkplugEndToEndTests {
    /// How parksim's metrics map onto kinds (its meter cabinet).
    static let kinds: [String: String] = [
        "Meter/Active Power": "active_power", "Meter/Energy": "energy", "Meter/Power Factor": "power_factor",
        "Cabinet/Temperature": "air_temperature", "Cabinet/Humidity": "humidity", "Status/Running": "running",
    ]

    static func configuration(broker: Broker, port: Int, clientID: String, host: String) -> String {
        let kinds = kinds.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        return """
            broker:
              url: \(broker.url)
              client_id: \(clientID)
              clean_session: false
              reconnect: {initial: 100ms, max: 1s}
            subscriptions: [{filter: "spBv1.0/#", qos: 1}]
            topics:
              - sparkplug: {}
                kinds: {\(kinds)}
            catalog:
              - {kind: running, pillar: energy, unit: "", min: 0, max: 1}
            \(host)
            http: {listen: "127.0.0.1:\(port)"}
            summaries: {path: summaries.jsonl, interval: 1s}
            alerts: {path: alerts.jsonl}
            state_dir: state
            """
    }

    /// What the ground truth says each series received: count and sum.
    struct Truth {
        var readings: [String: (count: Int, sum: Double)] = [:]
        var lines: [[String: Any]] = []
        func count(_ type: String) -> Int { lines.filter { $0["type"] as? String == type }.count }
    }

    static func truth(_ path: String) throws -> Truth {
        var truth = Truth()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            truth.lines.append(object)
            guard object["type"] as? String == "reading" else { continue }
            let metric = object["metric"] as! String
            let kind = try #require(kinds[metric])
            let node = object["node"] as! String
            let sensor = object["device"] as? String ?? node
            let key = "\(object["group"] as! String)|\(node)|\(kind)|\(sensor)"
            var entry = truth.readings[key] ?? (0, 0)
            entry.count += 1
            entry.sum += object["value"] as! Double
            truth.readings[key] = entry
        }
        return truth
    }

    static func pillar(_ kind: String) -> String {
        ["air_temperature", "humidity"].contains(kind) ? "green" : "energy"
    }

    /// Whether parkd holds every reading of the truth already (no expectation recorded).
    static func holdsAll(_ truth: Truth, port: Int) -> Bool {
        truth.readings.allSatisfy { key, expected in
            let p = key.split(separator: "|").map(String.init)
            let path = "/api/series?park=\(p[0])&zone=\(p[1])&pillar=\(pillar(p[2]))&kind=\(p[2])&sensor=\(p[3])"
            guard let (_, body) = try? HTTPGet.get(port: port, path: path),
                let windows = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let day = windows["24h"] as? [String: Any]
            else { return false }
            return day["count"] as? Int == expected.count
        }
    }

    /// Checks every series of the truth against parkd's 24 h window: count and sum exact.
    static func expectExact(_ truth: Truth, port: Int) throws {
        #expect(!truth.readings.isEmpty)
        for (key, expected) in truth.readings {
            let p = key.split(separator: "|").map(String.init)
            let path =
                "/api/series?park=\(p[0])&zone=\(p[1])&pillar=\(pillar(p[2]))&kind=\(p[2])&sensor=\(p[3])"
            let (status, body) = try HTTPGet.get(port: port, path: path)
            #expect(status == 200, "\(key): \(body)")
            let windows = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let day = try #require(windows["24h"] as? [String: Any])
            let count = day["count"] as? Int ?? -1
            let mean = day["mean"] as? Double ?? .nan
            #expect(count == expected.count, "\(key): parkd has \(count) readings, parksim sent \(expected.count)")
            #expect(abs(mean * Double(count) - expected.sum) < 1e-6 * max(1, abs(expected.sum)), "\(key)")
        }
    }

    static func sparkplug(port: Int) throws -> [String: Any] {
        let (status, body) = try HTTPGet.get(port: port, path: "/api/sparkplug")
        #expect(status == 200)
        return try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }

    static func event(_ status: [String: Any], _ name: String) -> Int {
        (status["events"] as? [String: Any])?[name] as? Int ?? 0
    }

    static func runParksim(_ broker: Broker, _ directory: URL, _ arguments: [String], timeout: Double = 60) throws
        -> Truth
    {
        let truthPath = directory.appendingPathComponent("truth.jsonl").path
        let parksim = try ChildProcess(
            try BuiltProduct.path("parksim"),
            ["sparkplug", "--url", broker.url, "--ground-truth", truthPath] + arguments,
            outputPath: directory.appendingPathComponent("parksim.out").path)
        #expect(parksim.wait(timeout: timeout) == 0)
        return try truth(truthPath)
    }

    static func alerts(_ directory: URL) -> [[String: Any]] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("alerts.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Polls until `done` or the timeout; every wait here is bounded. A throw (the endpoint
    /// not listening yet after a restart) counts as not yet.
    static func eventually(_ timeout: Double = 15, _ done: () throws -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if (try? done()) == true { return true }
            usleep(100_000)
        }
        return (try? done()) == true
    }

    @Test("nodes birth, report and die: every reading exact, each dead series stale with one alert, STATE published")
    func lifecycle() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "sparkplug-life")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let states = Received()
        let watcher = try MQTTClient(
            configuration: .init(
                url: try BrokerURL(parsing: broker.url), clientID: "state-watcher",
                subscriptions: [.init("spBv1.0/STATE/#")]),
            onMessage: { states.add($0) })
        watcher.start()
        try watcher.waitUntilConnected(timeout: 10)
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: Self.configuration(
                broker: broker, port: port, clientID: "parkd-sp-life", host: "sparkplug: {host_id: parkd-e2e}"))
        #expect(parkd.waitForLog("subscribed to"))
        #expect(states.wait(for: 1))
        let online = String(decoding: states.all.first?.payload ?? [], as: UTF8.self)
        #expect(online.hasPrefix(#"{"online":true,"timestamp":"#), "\(online)")

        // Two nodes with two meters each; node-1 also sends an NDEATH of an old session.
        let truth = try Self.runParksim(
            broker, directory,
            ["--nodes", "2", "--devices", "2", "--rounds", "15", "--interval", "50ms", "--fault", "bdseq_mismatch"])
        #expect(truth.count("fault") == 1)
        // Both nodes' wills: every series of theirs goes stale, one alert each.
        let series = Set(truth.readings.keys)
        #expect(series.count == 2 * (1 + 2 * 5))  // a humidity per node, 5 kinds per meter
        #expect(
            Self.eventually {
                (try Self.sparkplug(port: port)["offline"] as? [Any])?.count == series.count
            })
        let status = try Self.sparkplug(port: port)
        #expect(status["nodes_offline"] as? Int == 2 && status["nodes_online"] as? Int == 0)
        #expect(Self.event(status, "node_death") == 2 && Self.event(status, "stale_death") == 1)
        #expect(Self.event(status, "node_birth") == 2 && Self.event(status, "device_birth") == 4)
        // Skipped by reason: the meters' serial number (a string, in each DBIRTH) and
        // Sparkplug's own bdSeq and Node Control/Rebirth (in each NBIRTH).
        let skipped = status["skipped"] as? [String: Any]
        #expect(skipped?["string"] as? Int == 4 && skipped?["control"] as? Int == 4)
        try Self.expectExact(truth, port: port)
        #expect(
            Self.eventually {
                Self.alerts(directory).filter { $0["rule"] as? String == "sparkplug_offline" }.count == series.count
            })
        let fired = Self.alerts(directory).filter { $0["rule"] as? String == "sparkplug_offline" }
        let alerted = Set(
            fired.map {
                "\($0["park"] as! String)|\($0["zone"] as! String)|\($0["kind"] as! String)|\($0["sensor"] as! String)"
            })
        #expect(alerted == series)
        #expect(fired.allSatisfy { $0["state"] as? String == "firing" })
        let (_, metrics) = try HTTPGet.get(port: port, path: "/metrics")
        #expect(metrics.contains("parkd_sparkplug_offline_series_count \(series.count)"))
        #expect(metrics.contains(#"parkd_sparkplug_events_total{event="stale_death"} 1"#))
        // A clean stop says offline itself, with the birth's timestamp (the will is not sent).
        #expect(parkd.terminate() == 0)
        #expect(states.wait(for: 2))
        let offline = String(decoding: states.all.last?.payload ?? [], as: UTF8.self)
        #expect(offline == online.replacingOccurrences(of: "true", with: "false"), "\(offline)")
        watcher.stop()
    }

    @Test(
        "a lost DATA (sequence gap) and DATA before BIRTH each bring one rebirth request; readings exact after; a node gone without its will stays online"
    )
    func gapRebirth() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "sparkplug-gap")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let commands = Received()
        let watcher = try MQTTClient(
            configuration: .init(
                url: try BrokerURL(parsing: broker.url), clientID: "ncmd-watcher",
                subscriptions: [.init("spBv1.0/+/NCMD/#")]),
            onMessage: { commands.add($0) })
        watcher.start()
        try watcher.waitUntilConnected(timeout: 10)
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: Self.configuration(
                broker: broker, port: port, clientID: "parkd-sp-gap",
                host: "sparkplug: {rebirth: true, reorder_timeout: 200ms, rebirth_interval: 2s}"))
        #expect(parkd.waitForLog("subscribed to"))
        let truth = try Self.runParksim(
            broker, directory,
            [
                "--nodes", "1", "--devices", "2", "--rounds", "45", "--interval", "100ms", "--linger", "5s",
                "--fault", "seq_gap", "--fault", "data_before_birth", "--fault", "silent_death", "--gap-round", "30",
            ])
        #expect(truth.lines.last?["how"] as? String == "silent_death")
        // The NDATA before the first NBIRTH asks at once; the gap (3 s later, well after that
        // rebirth: a BIRTH clears a gap still waiting) after the reorder timeout.
        #expect(truth.count("rebirth_request") == 2)
        #expect(commands.all.count == 2)
        #expect(commands.all.allSatisfy { $0.topic == "spBv1.0/plant-a/NCMD/node-1" })
        #expect(Self.eventually { Self.holdsAll(truth, port: port) })
        // A clean DISCONNECT without NDEATH: the broker drops the will, and parkd cannot know
        // (the ordinary stale rules are what notice such a node).
        Thread.sleep(forTimeInterval: 1)
        let status = try Self.sparkplug(port: port)
        #expect(Self.event(status, "node_death") == 0 && status["nodes_online"] as? Int == 1)
        #expect(Self.alerts(directory).isEmpty)
        #expect(Self.event(status, "data_before_birth") == 1 && Self.event(status, "seq_gap") == 1)
        #expect(Self.event(status, "rebirth_requested") == 2 && Self.event(status, "node_birth") == 3)
        try Self.expectExact(truth, port: port)
        #expect(parkd.terminate() == 0)
        watcher.stop()
    }

    @Test(
        "a restart of parkd mid-stream loses nothing: the saved tables decode what the broker kept, no rebirth needed")
    func restart() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "sparkplug-restart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let configuration = Self.configuration(
            broker: broker, port: port, clientID: "parkd-sp-restart", host: "sparkplug: {rebirth: true}")
        let first = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(first.waitForLog("subscribed to"))
        let truthPath = directory.appendingPathComponent("truth.jsonl").path
        let parksim = try ChildProcess(
            try BuiltProduct.path("parksim"),
            [
                "sparkplug", "--url", broker.url, "--ground-truth", truthPath, "--nodes", "1", "--devices", "2",
                "--rounds", "40", "--interval", "100ms",
            ],
            outputPath: directory.appendingPathComponent("parksim.out").path)
        // Stop parkd once some DATA has arrived; the node goes on publishing meanwhile.
        #expect(Self.eventually { try Self.sparkplug(port: port)["nodes_online"] as? Int == 1 })
        Thread.sleep(forTimeInterval: 1)
        #expect(first.terminate() == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("state/sparkplug.json").path))
        Thread.sleep(forTimeInterval: 0.5)
        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("restored 1 Sparkplug edge nodes' tables"))
        // The session is still there: no new subscription, only the connection.
        #expect(second.waitForLog("connected to"))
        #expect(parksim.wait(timeout: 60) == 0)
        let truth = try Self.truth(truthPath)
        #expect(Self.eventually { Self.event(try Self.sparkplug(port: port), "node_death") == 1 })
        let status = try Self.sparkplug(port: port)
        #expect(Self.event(status, "data_before_birth") == 0 && Self.event(status, "unknown_alias") == 0)
        #expect(Self.event(status, "rebirth_requested") == 0 && Self.event(status, "seq_gap") == 0)
        #expect(truth.count("rebirth_request") == 0)
        try Self.expectExact(truth, port: port)
        #expect(second.terminate() == 0)
    }
}
