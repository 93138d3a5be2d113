import BrokerHarness
import Foundation
import MQTTClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The regulator feed against a real FTP server (Debian's pure-ftpd) on loopback: parkd writes
/// a file per station per 5-minute cycle and pushes it, oldest first, through outages and
/// restarts. pure-ftpd's login hashes the password (about 2 s here, more with the CPU busy), so
/// the waits are long and the upload timeout generous: they bound a hang, they time nothing.
@Suite("Regulator feed over FTP", .serialized)
struct RegulatorFeedTests {
    /// Tomorrow 00:00 local (+07:00), in milliseconds: readings run ahead of the wall clock, so
    /// cycles close on the readings' own clock, as fast as the test sends them.
    static var tomorrow: Int64 {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let local = now + 7 * 3_600_000
        return (local / 86_400_000 + 1) * 86_400_000 - 7 * 3_600_000
    }

    static func stamp(_ ms: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let f = DateFormatter()
        f.timeZone = TimeZone(secondsFromGMT: 7 * 3600)
        f.dateFormat = "yyyyMMddHHmmss"
        return f.string(from: date)
    }

    /// The file parkd must write for cycle `k` of the day (its mean, status by hand below).
    static func expected(day: Int64, cycle k: Int) -> (path: String, text: String) {
        let end = day + Int64(k + 1) * 300_000
        let s = stamp(end)
        let path = "NT01/\(s.prefix(4))/\(s.dropFirst(4).prefix(2))/\(s.dropFirst(6).prefix(2))/BD_KCNBB_NT01_\(s).txt"
        // COD: 100, 101, 102, 103, 104 over each cycle's five minutes: mean 102. Cycle 20's COD
        // readings say error: no value, status 02.
        let cod = k == 20 ? "COD\t---\tmg/L\t\(s)\t02" : "COD\t102\tmg/L\t\(s)\t00"
        // pH: 7.0, 7.1, 7.2 by cycle; cycle 10's readings say calibrating: no value, status 01.
        let ph = k == 10 ? "pH\t---\t-\t\(s)\t01" : "pH\t\(["7", "7.1", "7.2"][k % 3])\t-\t\(s)\t00"
        // TSS has no instrument: no value, status 02.
        return (path, "\(cod)\r\n\(ph)\r\nTSS\t---\tmg/L\t\(s)\t02\r\n")
    }

    /// Minutes [from, to) of the day: COD and pH of outlet-1, then one reading past the end so
    /// the last cycle closes.
    static func publish(_ publisher: MQTTPublisher, day: Int64, minutes: Range<Int>) throws {
        for m in minutes {
            let t = day + Int64(m) * 60_000
            let k = m / 5
            let codStatus = k == 20 ? #", "status": "error""# : ""
            let phStatus = k == 10 ? #", "status": "calibrating""# : ""
            try publisher.publish(
                "parks/p/cetp/emissions/ww_cod/outlet-1",
                payload: Array(#"{"value": \#(100 + m % 5), "ts": \#(t)\#(codStatus)}"#.utf8), qos: .atLeastOnce)
            try publisher.publish(
                "parks/p/cetp/emissions/ww_ph/outlet-1",
                payload: Array(#"{"value": \#(7 + Double(k % 3) / 10), "ts": \#(t)\#(phStatus)}"#.utf8),
                qos: .atLeastOnce)
        }
        let after = day + Int64(minutes.upperBound) * 60_000 + 120_000
        try publisher.publish(
            "parks/p/cetp/emissions/ww_cod/outlet-1", payload: Array(#"{"value": 1, "ts": \#(after)}"#.utf8),
            qos: .atLeastOnce)
        try publisher.flush()
    }

    static func configuration(broker: Broker, ftpPort: Int, server: FTPServer?, extra: String = "") -> String {
        """
        broker: {url: \(broker.url), client_id: parkd-feed, reconnect: {initial: 100ms, max: 1s}}
        subscriptions: [{filter: "parks/#", qos: 1}]
        http: off
        summaries: {path: summaries.jsonl, interval: 1m}
        state_dir: state
        limits: {max_ahead: 3d}
        regulator_feed:
          province: BD
          facility: KCNBB
          directory: feed
          upload:
            url: ftp://127.0.0.1:\(ftpPort)/
            username: \(server?.user ?? "feed")
            password_env: FEED_PASSWORD
            retry: 1s
            timeout: 30s
        \(extra)
          stations:
            - id: NT01
              park: p
              zone: cetp
              sensor: outlet-1
              parameters:
                - {code: COD, kind: ww_cod, unit: mg/L}
                - {code: pH, kind: ww_ph, unit: "-"}
                - {code: TSS, kind: ww_tss, unit: mg/L}
        """
    }

    static func parkd(_ directory: URL, _ configuration: String, password: String) throws -> ParkdProcess {
        setenv("FEED_PASSWORD", password, 1)
        return try ParkdProcess(directory: directory, configuration: configuration)
    }

    static func publisher(_ broker: Broker) throws -> MQTTPublisher {
        let publisher = try MQTTPublisher(
            configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "datalogger", cleanSession: true))
        try publisher.connect()
        return publisher
    }

    static func pending(_ directory: URL) -> Int {
        let root = directory.appendingPathComponent("feed/pending").path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
        var n = 0
        while let next = walker.nextObject() as? String {
            if next.hasSuffix(".txt") { n += 1 }
        }
        return n
    }

    @Test("a day of 5-minute files arrives on the FTP server with exact contents, in the station's dated folders")
    func day() throws {
        let broker = try Broker()
        let server = try FTPServer()
        let directory = try Scratch.makeDirectory(prefix: "feed-day")
        defer { try? FileManager.default.removeItem(at: directory) }
        let parkd = try Self.parkd(
            directory, Self.configuration(broker: broker, ftpPort: server.port, server: server),
            password: server.password)
        defer { _ = parkd.terminate() }
        #expect(parkd.waitForLog("subscribed to parks/#"), "\(parkd.log)")
        // The day arrives in seconds; with the server up, each second's few files would cost a
        // login each (pure-ftpd hashes the password: seconds under load). The server opens once
        // the day is written, so the day goes in one session, as a backlog would.
        server.stop()
        let day = Self.tomorrow
        try Self.publish(try Self.publisher(broker), day: day, minutes: 0..<1440)
        #expect(Province.wait(60) { Self.pending(directory) == 288 }, "\(Self.pending(directory)) pending")
        try server.start()
        let expected = (0..<288).map { Self.expected(day: day, cycle: $0) }
        // Whole, not just named: a file is renamed to its name once whole (`stored` below).
        let arrived = Province.wait(180) {
            Set(server.files()).isSuperset(of: expected.map(\.path))
                && expected.allSatisfy {
                    (try? String(contentsOf: server.home.appendingPathComponent($0.path), encoding: .utf8)) == $0.text
                }
        }
        #expect(arrived, "\(server.files().count) of 288 files; \(parkd.log.suffix(2000))")
        // 288 files (the last, ending at 24:00, dated the next day), nothing else, each exact.
        #expect(server.files() == expected.map(\.path).sorted())
        var wrong = 0
        for (path, text) in expected {
            let got = (try? String(contentsOf: server.home.appendingPathComponent(path), encoding: .utf8)) ?? ""
            if got != text {
                wrong += 1
                if wrong < 3 { Issue.record("\(path): \(got.debugDescription) ≠ \(text.debugDescription)") }
            }
        }
        #expect(wrong == 0)
        #expect(Province.wait(30) { Self.pending(directory) == 0 })
        // Each file was stored under a name the authority does not take and renamed once
        // whole: no upload went to a final name, where a poller could read it half sent.
        let stored = Self.stored(server)
        #expect(stored.count >= 288 && stored.allSatisfy { $0.hasSuffix(".txt.part") }, "\(stored.prefix(3))")
    }

    /// The files the server logged as stored (its transfer log), by path.
    static func stored(_ server: FTPServer) -> [String] {
        let log =
            (try? String(contentsOf: server.directory.appendingPathComponent("transfers.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            guard let put = line.range(of: "\"PUT ") else { return nil }
            return line[put.upperBound...].split(separator: "\"").first.map(String.init)
        }
    }

    @Test(
        "a file already on the server under its name (sent before a reply was lost) is replaced, a half-sent one too"
    )
    func replacesLeftovers() throws {
        let broker = try Broker()
        let server = try FTPServer()
        let directory = try Scratch.makeDirectory(prefix: "feed-leftovers")
        defer { try? FileManager.default.removeItem(at: directory) }
        let day = Self.tomorrow
        let expected = (0..<2).map { Self.expected(day: day, cycle: $0) }
        // What an earlier run left: the first file whole but stale, the second half sent.
        for (path, text) in [(expected[0].path, "stale\n"), (expected[1].path + ".part", "half")] {
            let url = server.home.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: false, encoding: .utf8)
        }
        // The server's user (nobody) owns its files, as it would had it written them.
        let chown = Process()
        chown.executableURL = URL(fileURLWithPath: "/bin/chown")
        chown.arguments = ["-R", "65534:65534", server.home.path]
        try chown.run()
        chown.waitUntilExit()
        #expect(chown.terminationStatus == 0)
        let parkd = try Self.parkd(
            directory, Self.configuration(broker: broker, ftpPort: server.port, server: server),
            password: server.password)
        defer { _ = parkd.terminate() }
        #expect(parkd.waitForLog("subscribed to parks/#"), "\(parkd.log)")
        try Self.publish(try Self.publisher(broker), day: day, minutes: 0..<10)
        func content(_ path: String) -> String? {
            try? String(contentsOf: server.home.appendingPathComponent(path), encoding: .utf8)
        }
        let replaced = Province.wait(120) {
            server.files() == expected.map(\.path).sorted() && expected.allSatisfy { content($0.path) == $0.text }
        }
        #expect(replaced, "\(server.files()); \(parkd.log.suffix(1500))")
        #expect(Province.wait(30) { Self.pending(directory) == 0 })
    }

    @Test(
        "a 2-hour server outage: files wait in pending/, /healthz names the failing feed, then every file arrives in order"
    )
    func outage() throws {
        let broker = try Broker()
        let server = try FTPServer()
        server.stop()
        let directory = try Scratch.makeDirectory(prefix: "feed-outage")
        defer { try? FileManager.default.removeItem(at: directory) }
        let http = try FreePort.pick()
        let parkd = try Self.parkd(
            directory,
            Self.configuration(broker: broker, ftpPort: server.port, server: server)
                .replacingOccurrences(of: "http: off", with: "http: {listen: \"127.0.0.1:\(http)\"}"),
            password: server.password)
        defer { _ = parkd.terminate() }
        #expect(parkd.waitForLog("subscribed to parks/#"), "\(parkd.log)")
        let day = Self.tomorrow
        // Two hours of readings while the server is down: 24 cycles.
        try Self.publish(try Self.publisher(broker), day: day, minutes: 0..<120)
        #expect(Province.wait(30) { Self.pending(directory) == 24 }, "\(Self.pending(directory)) pending")
        let failing = Province.wait(30) {
            (try? HTTPGet.get(port: http, path: "/healthz"))?.body.contains("feed_failing") == true
        }
        #expect(failing)
        let metrics = try HTTPGet.get(port: http, path: "/metrics").body
        #expect(metrics.contains("parkd_feed_pending_files 24"), "\(metrics)")
        try server.start()
        let expected = (0..<24).map { Self.expected(day: day, cycle: $0) }
        func content(_ path: String) -> String? {
            try? String(contentsOf: server.home.appendingPathComponent(path), encoding: .utf8)
        }
        // A file shows under its name once renamed, and the server logs its store (as NAME.part)
        // before: wait for every file whole and every transfer logged, not for the names alone.
        func transfers() -> [Int] {
            let log =
                (try? String(contentsOf: server.directory.appendingPathComponent("transfers.log"), encoding: .utf8))
                ?? ""
            return log.split(separator: "\n").compactMap { line in expected.firstIndex { line.contains($0.path) } }
        }
        let whole = Province.wait(120) {
            server.files() == expected.map(\.path).sorted() && expected.allSatisfy { content($0.path) == $0.text }
                && transfers().count >= 24
        }
        #expect(whole, "\(server.files()); transfers \(transfers())")
        for (path, text) in expected { #expect(content(path) == text, "\(path)") }
        // Oldest first: the server's transfer log lists the files in cycle order.
        let order = transfers()
        #expect(order.count >= 24 && order == order.sorted(), "\(order)")
        #expect(Province.wait(30) { Self.pending(directory) == 0 })
        let healthy = Province.wait(30) {
            (try? HTTPGet.get(port: http, path: "/healthz"))?.body.contains("feed_failing") == false
        }
        #expect(healthy)
    }

    @Test("kill -9 mid-upload (a server that stalls), restart: nothing lost, the pending files go to the real server")
    func restartMidUpload() throws {
        let broker = try Broker()
        let server = try FTPServer()
        let directory = try Scratch.makeDirectory(prefix: "feed-restart")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A server that accepts and never greets: curl hangs in the upload. It writes how many
        // connections it holds, so the kill comes while parkd's curl is one of them.
        let stall = try FreePort.pick()
        let held = directory.appendingPathComponent("held").path
        let staller = try ChildProcess(
            "/usr/bin/python3",
            [
                "-c",
                "import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',\(stall)));s.listen(8)\nc=[]\nwhile True:\n c.append(s.accept())\n open('\(held)','w').write(str(len(c)))",
            ])
        defer { staller.signal(SIGKILL) }
        #expect(Province.wait(5) { FreePort.accepts(stall) })  // the staller's first connection
        let first = try Self.parkd(
            directory, Self.configuration(broker: broker, ftpPort: stall, server: server), password: server.password)
        #expect(first.waitForLog("subscribed to parks/#"), "\(first.log)")
        let day = Self.tomorrow
        try Self.publish(try Self.publisher(broker), day: day, minutes: 0..<60)
        #expect(Province.wait(30) { Self.pending(directory) == 12 })
        // parkd's curl is connected, waiting for a greeting that never comes.
        #expect(Province.wait(30) { (Int(Province.text(held)) ?? 0) >= 2 }, "\(first.log)")
        first.process.signal(SIGKILL)
        _ = first.process.wait()
        let second = try Self.parkd(
            directory, Self.configuration(broker: broker, ftpPort: server.port, server: server),
            password: server.password)
        defer { _ = second.terminate() }
        let expected = (0..<12).map { Self.expected(day: day, cycle: $0) }
        #expect(Province.wait(120) { server.files() == expected.map(\.path).sorted() }, "\(server.files())")
        for (path, text) in expected {
            #expect((try? String(contentsOf: server.home.appendingPathComponent(path), encoding: .utf8)) == text)
        }
        #expect(Province.wait(30) { Self.pending(directory) == 0 })
    }

    @Test("FTPS: with tls: required the files go over TLS to a server that refuses plain logins")
    func tls() throws {
        let broker = try Broker()
        let material = try TLSMaterial.generate()
        let server = try FTPServer(tls: material, requireTLS: true)
        let directory = try Scratch.makeDirectory(prefix: "feed-tls")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = Self.configuration(
            broker: broker, ftpPort: server.port, server: server,
            extra: "    tls: required\n    ca_file: \(material.caFile)")
        let parkd = try Self.parkd(directory, configuration, password: server.password)
        defer { _ = parkd.terminate() }
        #expect(parkd.waitForLog("with TLS"), "\(parkd.log)")
        #expect(parkd.waitForLog("subscribed to parks/#"), "\(parkd.log)")
        let day = Self.tomorrow
        try Self.publish(try Self.publisher(broker), day: day, minutes: 0..<15)
        let expected = (0..<3).map { Self.expected(day: day, cycle: $0) }
        #expect(Province.wait(90) { server.files() == expected.map(\.path).sorted() }, "\(parkd.log.suffix(1500))")
        // The same configuration without TLS is refused by this server: the test is not vacuous.
        let plain = try Scratch.makeDirectory(prefix: "feed-plain")
        defer { try? FileManager.default.removeItem(at: plain) }
        let refused = try Self.parkd(
            plain,
            Self.configuration(broker: broker, ftpPort: server.port, server: server)
                .replacingOccurrences(of: "client_id: parkd-feed", with: "client_id: parkd-plain"),
            password: server.password)
        defer { _ = refused.terminate() }
        #expect(refused.waitForLog("subscribed to parks/#"))
        try Self.publish(try Self.publisher(broker), day: day + 86_400_000, minutes: 0..<5)
        #expect(refused.waitForLog("upload of NT01", timeout: 30), "\(refused.log)")
        #expect(Self.pending(plain) >= 1)
    }
}
