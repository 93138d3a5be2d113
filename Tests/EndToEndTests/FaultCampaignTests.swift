import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// What a gateway goes through, against real brokers, each with exact counts.
@Suite("Fault campaign")
struct FaultCampaignTests {
    /// The sum of a summary field over every line written so far (all runs append to one file).
    static func total(_ path: String, _ key: String, quality: Bool = false) throws -> Int {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").reduce(0) { sum, line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let value = quality ? (object["quality"] as? [String: Int])?[key] : object[key] as? Int
            return sum + (value ?? 0)
        }
    }

    /// Runs parkd once to open its persistent session, then stops it; returns the summaries
    /// path, emptied, for the runs that count.
    static func openSession(_ directory: URL, _ configuration: String) throws -> String {
        let summaries = directory.appendingPathComponent("summaries.jsonl").path
        let first = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(first.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        #expect(first.terminate() == 0)
        try? FileManager.default.removeItem(atPath: summaries)
        return summaries
    }

    static func publisher(_ broker: Broker) throws -> MQTTPublisher {
        let publisher = try MQTTPublisher(
            configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensors", cleanSession: true))
        try publisher.connect()
        return publisher
    }

    @Test(
        "a graceful restart while parkd drains a backlog from its session: nothing lost, nothing counted twice",
        arguments: ["3.1.1", "5"])
    func restartWhileDraining(protocolVersion: String) throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "drain")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ParkdProcess.configuration(
            brokerURL: broker.url, clientID: "parkd-drain", summaries: "summaries.jsonl",
            extraBroker: "  protocol: \"\(protocolVersion)\"\n  session_expiry: 1h")
        let summaries = try Self.openSession(directory, configuration)

        // 100 000 readings queue up in the session: 200 sensors, 500 each, with seq.
        let publisher = try Self.publisher(broker)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let total = 100_000
        for i in 0..<total {
            let sensor = i % 200
            let payload = #"{"value": \#(i % 97), "ts": \#(now + Int64(i)), "seq": \#(i / 200)}"#
            try publisher.publish(
                "parks/p/z/emissions/pm25/s\(sensor)", payload: Array(payload.utf8), qos: .atLeastOnce)
        }
        try publisher.flush()

        // Stopped while draining, then started again to take the rest.
        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("session_present=true"))
        Thread.sleep(forTimeInterval: 0.4)
        #expect(second.terminate() == 0)
        let taken = try Self.total(summaries, "readings")
        #expect(taken > 0 && taken < total, "the stop should fall mid-drain (took \(taken))")

        let third = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(third.waitForLog("session_present=true"))
        let deadline = Date(timeIntervalSinceNow: 60)
        var seen = 0
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 1.2)
            let now = try Self.total(summaries, "readings")
            if now == seen && now > taken { break }  // nothing more came in a whole interval
            seen = now
        }
        #expect(third.terminate() == 0)
        #expect(try Self.total(summaries, "accepted") == total)
        #expect(try Self.total(summaries, "duplicate", quality: true) == 0)
        #expect(try Self.total(summaries, "readings") == total)
    }

    static let gateway = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy/mosquitto/gateway.conf")

    @Test("a broker kill -9 with the shipped gateway configuration keeps parkd's session and the readings queued in it")
    func brokerCrash() throws {
        // The gateway file's persistence settings, with its database in a scratch folder.
        let persistence = try Scratch.makeDirectory(prefix: "persist")
        defer { try? FileManager.default.removeItem(at: persistence) }
        let shipped = try String(contentsOf: Self.gateway, encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("persistence ") || $0.hasPrefix("autosave") }
        #expect(shipped.contains("autosave_interval 1"))
        let broker = try Broker(.init(extraConfiguration: shipped + ["persistence_location \(persistence.path)/"]))
        let directory = try Scratch.makeDirectory(prefix: "broker-crash")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ParkdProcess.configuration(
            brokerURL: broker.url, clientID: "parkd-crash", summaries: "summaries.jsonl")
        let summaries = try Self.openSession(directory, configuration)

        // 20 000 readings wait in parkd's session; the broker saves within a second; then it crashes.
        let publisher = try Self.publisher(broker)
        let total = 20_000
        for i in 0..<total {
            let payload = #"{"value": \#(i % 89), "seq": \#(i / 100)}"#
            try publisher.publish(
                "parks/p/z/emissions/pm25/s\(i % 100)", payload: Array(payload.utf8), qos: .atLeastOnce)
        }
        try publisher.flush()
        publisher.disconnect()
        Thread.sleep(forTimeInterval: 2.5)
        broker.kill()
        try broker.start()

        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("session_present=true"))
        let deadline = Date(timeIntervalSinceNow: 30)
        while Date() < deadline, try Self.total(summaries, "readings") < total { Thread.sleep(forTimeInterval: 0.5) }
        Thread.sleep(forTimeInterval: 1.2)
        #expect(second.terminate() == 0)
        #expect(try Self.total(summaries, "readings") == total)
        #expect(try Self.total(summaries, "accepted") == total)
    }

    /// TCP connections that connect and say nothing, held by a process of their own (in the
    /// test process they would push other tests' descriptors past select's 1 024), 60 s at most.
    static let siege = """
        import socket, sys, time
        port, count = int(sys.argv[1]), int(sys.argv[2])
        held = []
        for k in range(count):
            s = socket.socket(); s.setblocking(False)
            try: s.connect(("127.0.0.1", port))
            except BlockingIOError: pass
            held.append(s)
            if k % 100 == 99: time.sleep(0.2)
        print("holding", len(held), flush=True)
        time.sleep(60)
        """

    @Test(
        "1 100 idle HTTP clients against parkd limited to 256 open files: ingest keeps pace and every state save succeeds"
    )
    func idleHTTPClients() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "slow-http")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let configPath = directory.appendingPathComponent("parkd.yaml").path
        try
            (ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-http-flood", summaries: "summaries.jsonl")
            + "\nstate_dir: state\nsnapshot_interval: 1s\n").write(
                toFile: configPath, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("parkd.log").path
        // As under a unit with a low LimitNOFILE: 256 descriptors in all.
        let parkd = try ChildProcess(
            try Command.find("prlimit"),
            [
                "--nofile=256:256", try BuiltProduct.path("parkd"), "run", "--config", configPath, "--http",
                "127.0.0.1:\(port)",
            ],
            outputPath: log)
        let started = Date(timeIntervalSinceNow: 15)
        while Date() < started, !FreePort.accepts(port) { usleep(50_000) }
        let publisher = try Self.publisher(broker)
        let siegeLog = directory.appendingPathComponent("siege.log").path
        let siege = try ChildProcess(
            try Command.find("python3"), ["-c", Self.siege, "\(port)", "1100"], outputPath: siegeLog)
        defer {
            siege.signal(SIGKILL)
            _ = siege.wait(timeout: 5)
        }
        let held = Date(timeIntervalSinceNow: 20)
        while Date() < held, !((try? String(contentsOfFile: siegeLog, encoding: .utf8)) ?? "").contains("holding") {
            usleep(100_000)
        }
        let total = 5_000
        for i in 0..<total {
            try publisher.publish(
                "parks/p/z/emissions/pm25/s\(i % 50)",
                payload: Array(#"{"value": \#(i % 89), "seq": \#(i / 50)}"#.utf8),
                qos: .atLeastOnce)
            if i % 1000 == 999 { Thread.sleep(forTimeInterval: 0.5) }
        }
        try publisher.flush()
        Thread.sleep(forTimeInterval: 3)  // more snapshots under the siege (one a second)
        #expect(parkd.isRunning)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(
            !text.contains("cannot save"),
            "\(text.split(separator: "\n").filter { $0.contains("cannot save") }.prefix(2))")
        let snapshot = directory.appendingPathComponent("state/windows.snapshot").path
        let modified = try FileManager.default.attributesOfItem(atPath: snapshot)[.modificationDate] as? Date
        // Saved within the last few seconds, long after the siege began (about 7 s ago).
        #expect(modified.map { Date().timeIntervalSince($0) < 4 } == true, "the snapshot is not being saved")
        siege.signal(SIGKILL)
        parkd.signal(SIGTERM)
        #expect(parkd.wait(timeout: 20) == 0)
        let summaries = directory.appendingPathComponent("summaries.jsonl").path
        #expect(try Self.total(summaries, "accepted") == total)
    }

    @Test("a process the tests start inherits no descriptor of the test process")
    func childDescriptors() throws {
        let directory = try Scratch.makeDirectory(prefix: "fds")
        defer { try? FileManager.default.removeItem(at: directory) }
        let held = (0..<20).map { _ in open("/dev/null", O_RDONLY) }  // not close-on-exec
        defer { for fd in held { close(fd) } }
        let output = directory.appendingPathComponent("fds").path
        let child = try ChildProcess("/bin/ls", ["/proc/self/fd"], outputPath: output)
        #expect(child.wait() == 0)
        // 0, 1, 2 and the one ls opens to read the folder.
        let listed = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(listed.count == 4, "\(listed)")
    }

    static var root: Bool { geteuid() == 0 }

    @Test(
        "a disk that fills and frees again under load: /healthz says so, and every alert and summary line is written once there is room",
        .enabled(if: root))
    func diskFillsAndFrees() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "disk-full")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Outputs and state on a 16 MiB tmpfs of their own, with 64 KiB left free at first.
        let disk = directory.appendingPathComponent("disk").path
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        _ = try Command.run(Command.find("mount"), ["-t", "tmpfs", "-o", "size=16777216", "tmpfs", disk])
        defer { _ = try? Command.run(Command.find("umount"), [disk]) }
        let filler = disk + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: 16_777_216 - 64 * 1024))
        let port = try FreePort.pick()
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-disk", summaries: disk + "/summaries.jsonl")
                    + """

                    state_dir: \(disk)/state
                    snapshot_interval: 1s
                    alerts: {path: \(disk)/alerts.jsonl, log: \(disk)/alerts.log}
                    rules: [{id: high, description: "PM2.5 high", severity: critical, match: {kind: pm25}, when: {above: 50}}]
                    """,
            arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(parkd.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        // 300 sensors each fire once: about 200 KB of alert lines, more than the 64 KiB free.
        let publisher = try Self.publisher(broker)
        let sensors = 300
        for k in 0..<sensors {
            try publisher.publish(
                "parks/p/z/emissions/pm25/s\(k)", payload: Array(#"{"value": 60}"#.utf8), qos: .atLeastOnce)
        }
        try publisher.flush()
        Thread.sleep(forTimeInterval: 2.5)
        let full = try HTTPGet.get(port: port, path: "/healthz")
        #expect(full.status == 503 && full.body.contains("sink_errors") && full.body.contains("alerts"), "\(full.body)")
        #expect(parkd.process.isRunning)

        try FileManager.default.removeItem(atPath: filler)
        Thread.sleep(forTimeInterval: 3)
        let healthy = try HTTPGet.get(port: port, path: "/healthz")
        #expect(healthy.status == 200, "\(healthy.body)")
        #expect(parkd.log.contains("output alerts recovered"))
        #expect(parkd.terminate() == 0)

        // Every line whole, each alert once, in the JSON file and the readable log.
        let lines = try String(contentsOfFile: disk + "/alerts.jsonl", encoding: .utf8).split(separator: "\n")
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count)
        #expect(Set(objects.compactMap { $0["sensor"] as? String }).count == sensors)
        #expect(lines.count == sensors)
        let readable = try String(contentsOfFile: disk + "/alerts.log", encoding: .utf8).split(separator: "\n")
        #expect(readable.count == sensors)
        #expect(try Self.total(disk + "/summaries.jsonl", "accepted") == sensors)
    }

    @Test(
        "parkd kill -9 under load: restored from the snapshot, it loses at most what arrived since the snapshot before")
    func parkdCrashUnderLoad() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "parkd-crash")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let configuration =
            ParkdProcess.configuration(brokerURL: broker.url, clientID: "parkd-kill", summaries: "summaries.jsonl")
            + "\nstate_dir: state\nsnapshot_interval: 1s\n"
        let first = try ParkdProcess(
            directory: directory, configuration: configuration, arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(first.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        // 10 sensors, 1 000 readings each, about 2 000 a second; parkd is killed halfway.
        let publisher = try Self.publisher(broker)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let total = 10_000
        var killed = false
        for i in 0..<total {
            let payload = #"{"value": \#(i % 83), "ts": \#(now + Int64(i)), "seq": \#(i / 10)}"#
            try publisher.publish(
                "parks/p/z/emissions/pm25/s\(i % 10)", payload: Array(payload.utf8), qos: .atLeastOnce)
            if i % 200 == 199 { Thread.sleep(forTimeInterval: 0.1) }
            if i == total / 2 {
                first.process.signal(SIGKILL)
                _ = first.process.wait(timeout: 10)
                killed = true
            }
        }
        try publisher.flush()
        #expect(killed)
        // Restarted: the snapshot comes back, the session delivers what was not acknowledged.
        let second = try ParkdProcess(
            directory: directory, configuration: configuration, arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(second.waitForLog("restored the windows of 10 series"))
        #expect(second.waitForLog("session_present=true"))
        Thread.sleep(forTimeInterval: 3)
        var kept = 0
        for k in 0..<10 {
            let body = try HTTPGet.get(
                port: port, path: "/api/series?park=p&zone=z&pillar=emissions&kind=pm25&sensor=s\(k)"
            ).body
            let windows = try #require(
                try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: [String: Any]])
            kept += windows["1h"]?["count"] as? Int ?? 0
        }
        #expect(second.terminate() == 0)
        // What can be lost: readings acknowledged after the last snapshot, at most one
        // snapshot_interval (1 s, under 2 000 at this rate; 2 500 leaves room for a slow save);
        // nothing counted twice.
        let lost = total - kept
        #expect(lost >= 0 && lost <= 2_500, "lost \(lost) of \(total)")
        print("parkd kill -9 under load: \(lost) of \(total) readings lost from the windows")
    }
}

/// The page and the API under abuse cannot make parkd look dead to its monitoring, or starve
/// its ingest: Benchmarks/http-abuse.py (the same script `make bench-http` runs longer), with
/// 100 keep-alive clients hammering the page and the API and 100 slow ones holding half a
/// request, beside a feed of 1 000 messages a second.
@Suite("HTTP abuse beside ingest")
struct HTTPAbuseTests {
    @Test("every /healthz on the probe listener is answered under abuse, and ingest takes in every message")
    func probesUnderAbuse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = try Scratch.makeDirectory(prefix: "http-abuse")
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("abuse.log").path
        let abuse = try ChildProcess(
            try Command.find("python3"),
            [
                root.appendingPathComponent("Benchmarks/http-abuse.py").path, "--parkd", try BuiltProduct.path("parkd"),
                "--parksim", try BuiltProduct.path("parksim"), "--seconds", "8", "--rate", "1000", "--keepalive", "100",
                "--slow", "100", "--probes",
            ], outputPath: output)
        let status = abuse.wait(timeout: 120)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(text)")
        let figures = try #require(
            text.split(separator: "\n").last.flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }, "\(text)")
        // A monitoring probe gives up after 5 s: none did, on the probe listener.
        #expect(figures["failed_probe"] as? Int == 0, "\(text)")
        #expect(figures["taken"] as? Int == 8000 && figures["alive"] as? Bool == true, "\(text)")
        print(text.split(separator: "\n").prefix(3).joined(separator: "\n"))
    }
}
