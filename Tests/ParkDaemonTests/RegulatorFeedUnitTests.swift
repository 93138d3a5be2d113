import BrokerHarness
import Foundation
import Logging
import MQTTClient
import Testing

@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest
@testable import TelemetryCore

@Suite("Regulator feed: format, stations and spool")
struct RegulatorFeedUnitTests {
    /// 2026-11-23T00:00:00+07:00.
    static let day0 = ComplianceTests.day0

    func parse(_ feed: String) throws -> DaemonConfiguration {
        try DaemonConfiguration.parse(
            "broker: {url: mqtt://127.0.0.1}\nstate_dir: /var/lib/parkd\nregulator_feed:\n" + feed,
            file: "/etc/parkd/parkd.yaml")
    }

    @Test(
        "a station of type wastewater sends Flow, Temp, pH, TSS, COD, NH4 (not BOD5); the layout and codes are settings"
    )
    func configuration() throws {
        let c = try parse(
            """
              province: BD
              facility: KCN-BB
              stations: [{id: NT01, park: p, zone: cetp, type: wastewater, sensor: outlet-1}, {id: KT01, park: p, zone: boiler, type: stack}]
            """)
        let feed = try #require(c.feed)
        #expect(feed.stations[0].parameters.map(\.code) == ["Flow", "Temp", "pH", "TSS", "COD", "NH4"])
        #expect(feed.stations[0].parameters.allSatisfy { $0.sensor == "outlet-1" })
        #expect(feed.stations[1].parameters.map(\.code) == ["Flow", "Temp", "PM", "O2", "SO2", "NOx", "CO"])
        #expect(feed.format.cycleMilliseconds == 300_000 && feed.keepDays == 60 && feed.format.layout == .lines)
        #expect(feed.directory == "/var/lib/parkd/feed" && feed.upload == nil)
        #expect(c.pipelineSettings.feedStations == feed.stations)
    }

    @Test(
        "names that would leave their folder on the server are refused at load",
        arguments: [
            (
                "province: ../x\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]",
                "province '../x' must be"
            ),
            (
                "province: P\n  facility: a/b\n  stations: [{id: S, park: p, zone: z, type: stack}]",
                "facility 'a/b' must be"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: ../../etc, park: p, zone: z, type: stack}]",
                "id '../../etc' must be"
            ),
            ("province: P\n  facility: F\n  stations: [{id: '..', park: p, zone: z, type: stack}]", "id '..' must be"),
            (
                "province: P\n  facility: F\n  stations: [{id: 'S T', park: p, zone: z, type: stack}]",
                "id 'S T' must be"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]\n  upload: {url: \"ftp://h/../up\"}",
                "must be plain names"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]\n  upload: {url: \"sftp://h/\"}",
                "sftp is not supported"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: river}]",
                "expected type wastewater or stack"
            ),
            ("province: P\n  facility: F\n  keep: 30d\n  stations: [{id: S, park: p, zone: z, type: stack}]", "keep"),
            (
                "province: P\n  facility: F\n  cycle: 7m\n  stations: [{id: S, park: p, zone: z, type: stack}]",
                "must divide a day"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, parameters: [{code: \"C\\tOD\", kind: ww_cod}]}]",
                "cannot hold tabs"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]\n  upload: {url: \"ftp://h/\", username: u, password_file: /etc/hostname, password_env: HOME}",
                "not both"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]\n  upload: {url: \"ftp://h/\", password_env: HOME}",
                "no username"
            ),
            (
                "province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]\n  upload: {url: \"ftp://h/\", tls: required, ca_file: /nonexistent/ca.pem}",
                "cannot read '/nonexistent/ca.pem'"
            ),
        ])
    func refused(feed: String, expected: String) {
        let error = #expect(throws: ConfigurationError.self) { try parse("  " + feed) }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("retention: archived days older than keep go, unless a file of theirs is pending; emptied pending days go")
    func retention() throws {
        let root = try Scratch.makeDirectory(prefix: "feed-retention")
        defer { try? FileManager.default.removeItem(at: root) }
        let spool = FeedSpool(root: root.path)
        let calendar = LocalCalendar(utcOffsetMinutes: 420)
        // Now: 2026-11-23 10:00 local. Keep 60 days: 2026-09-23 and earlier go (cutoff day 09-24).
        let now = EventTime(milliseconds: Self.day0 + 10 * 3_600_000)
        func write(_ day: String) throws {
            #expect(try spool.write(relativePath: "NT01/\(day)/BD_F_NT01_x.txt", text: "x\r\n"))
        }
        for day in ["2026/09/22", "2026/09/23", "2026/09/24", "2026/11/22", "2026/11/23"] { try write(day) }
        for day in ["2026/09/22", "2026/09/24", "2026/11/22", "2026/11/23"] {
            spool.sent("NT01/\(day)/BD_F_NT01_x.txt")
        }
        let removed = spool.prune(keepDays: 60, now: now, calendar: calendar)
        let archive = FeedSpool.dayFolders(under: root.path + "/archive").map(\.relative).sorted()
        let pending = FeedSpool.dayFolders(under: root.path + "/pending").map(\.relative).sorted()
        // 09-22 went; 09-23 stays, its file not yet sent; 09-24 is within the 60 days.
        #expect(
            removed == 1 && archive == ["NT01/2026/09/23", "NT01/2026/09/24", "NT01/2026/11/22", "NT01/2026/11/23"])
        // Emptied pending days before today went; 09-23 holds its file, today's stays.
        #expect(pending == ["NT01/2026/09/23", "NT01/2026/11/23"], "\(pending)")
    }

    @Test("check-config prints the feed and the parks' zones, and what it prints reads back equal")
    func printed() throws {
        setenv("PARKD_FEED_TEST_PASSWORD", "s3cret", 1)
        let c = try DaemonConfiguration.parse(
            """
            broker: {url: mqtt://127.0.0.1}
            parks: {p: {wastewater: {zone: "zone-*", sensor: o1, kq: 0.9, kf: 1}, zones: {fence-n: ordinary, "*": production}}}
            regulator_feed:
              province: BD
              facility: KCN-BB
              cycle: 10m
              layout: line
              missing: omit
              upload: {url: "ftp://127.0.0.1:2121/in", username: u, password_env: PARKD_FEED_TEST_PASSWORD, retry: 5s}
              stations:
                - {id: NT01, park: p, zone: cetp, sensor: outlet-1, type: wastewater}
                - {id: KT01, park: p, zone: "boiler 2", parameters: [{code: PM, kind: stack_dust, unit: mg/Nm3}]}
            """, file: "/etc/parkd/parkd.yaml")
        let text = c.effectiveYAML
        #expect(text.contains("password_env: PARKD_FEED_TEST_PASSWORD") && !text.contains("s3cret"))
        let again = try DaemonConfiguration.parse(text, file: "/etc/parkd/parkd.yaml")
        #expect(again.feed == c.feed && again.parks == c.parks, "\(text)")
        #expect(again.effectiveYAML == text)
    }

    @Test("the upload's password: plain FTP to another machine is a warning at load; over TLS or on loopback it is not")
    func passwordWarnings() throws {
        setenv("PARKD_FEED_TEST_PASSWORD", "s3cret", 1)
        func warnings(_ upload: String) throws -> [String] {
            try parse(
                "  province: P\n  facility: F\n  stations: [{id: S, park: p, zone: z, type: stack}]\n  upload: \(upload)\n"
            ).warnings
        }
        let plain = try warnings(
            "{url: \"ftp://feed.example.gov.vn/\", username: u, password_env: PARKD_FEED_TEST_PASSWORD}")
        #expect(plain.contains { $0.contains("plain text to ftp://feed.example.gov.vn:21") })
        #expect(
            try warnings("{url: \"ftp://127.0.0.1:2121/\", username: u, password_env: PARKD_FEED_TEST_PASSWORD}")
                .isEmpty)
        #expect(
            try warnings(
                "{url: \"ftp://feed.example.gov.vn/\", username: u, password_env: PARKD_FEED_TEST_PASSWORD, tls: required}"
            ).isEmpty)
    }

    @Test("the file: name, folder, fields and values, one line per parameter or all on one, missing as --- or left out")
    func format() {
        var format = RegulatorFeedFormat(province: "BD", facility: "KCNBB")
        let end = EventTime(milliseconds: Self.day0 + 10 * 3_600_000 + 300_000)  // 10:05 local
        let cycle = FeedCycle(
            station: "NT01", start: EventTime(milliseconds: end.milliseconds - 300_000), end: end,
            parameters: [
                .init(code: "COD", unit: "mg/L", mean: 121.456_789, readings: 5, status: .measuring),
                .init(code: "pH", unit: "-", mean: nil, readings: 0, status: .calibrating),
                .init(code: "Temp", unit: "oC", mean: -0.5, readings: 5, status: .measuring),
            ])
        #expect(format.relativePath(station: "NT01", end: end) == "NT01/2026/11/23/BD_KCNBB_NT01_20261123100500.txt")
        // The stamp reads back as the instant it names (the oldest pending file's age).
        #expect(format.time(ofStamp: "20261123100500") == end && format.time(ofStamp: "2026112310050x") == nil)
        #expect(
            format.text(cycle)
                == "COD\t121.457\tmg/L\t20261123100500\t00\r\npH\t---\t-\t20261123100500\t01\r\nTemp\t-0.5\toC\t20261123100500\t00\r\n"
        )
        format.layout = .line
        format.missing = .omit
        #expect(format.text(cycle) == "COD\t121.457\tmg/L\t20261123100500\t00\tTemp\t-0.5\toC\t20261123100500\t00\r\n")
        // No exponent, no trailing zeros, three decimals at most.
        #expect(RegulatorFeedFormat.number(1e-7) == "0" && RegulatorFeedFormat.number(150) == "150")
        #expect(RegulatorFeedFormat.number(7.1) == "7.1" && RegulatorFeedFormat.number(12_345.0005) == "12345.001")
    }

    @Test(
        "through the pipeline: means of accepted readings, calibrating 01, error 02, silent --- 02, late readings counted"
    )
    func stage() throws {
        let c = try parse(
            """
              province: BD
              facility: F
              grace: 30s
              stations: [{id: NT01, park: p, zone: cetp, sensor: o1, parameters: [{code: COD, kind: ww_cod, unit: mg/L}, {code: pH, kind: ww_ph, unit: "-"}, {code: TSS, kind: ww_tss, unit: mg/L}]}]
            """)
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        func send(_ kind: String, _ value: Double, at ms: Int64, status: String = "ok", sensor: String = "o1") {
            p.ingest(
                topic: "parks/p/cetp/emissions/\(kind)/\(sensor)",
                payload: Array(#"{"value": \#(value), "ts": \#(ms), "status": "\#(status)"}"#.utf8),
                arrival: EventTime(milliseconds: ms))
        }
        let ten = Self.day0 + 10 * 3_600_000
        // 10:00–10:05: COD 100, 110, 120 (mean 110); pH calibrating only; another sensor's COD ignored.
        for (k, v) in [100.0, 110, 120].enumerated() { send("ww_cod", v, at: ten + Int64(k) * 60_000) }
        send("ww_cod", 999, at: ten + 30_000, sensor: "factory")
        send("ww_ph", 7, at: ten + 60_000, status: "calibrating")
        // Nothing closes until the clock is 30 s past a cycle's end.
        #expect(p.takeFeedCycles(wallClock: EventTime(milliseconds: ten + 320_000)).isEmpty)
        let first = p.takeFeedCycles(wallClock: EventTime(milliseconds: ten + 330_000))
        #expect(first.count == 1 && first[0].end.milliseconds == ten + 300_000)
        #expect(first[0].parameters.map(\.mean) == [110, nil, nil])
        #expect(first[0].parameters.map(\.status) == [.measuring, .calibrating, .error])
        // 10:05–10:10: COD error only; pH 7.2 and 7.4.
        send("ww_cod", 50, at: ten + 360_000, status: "error")
        send("ww_ph", 7.2, at: ten + 360_000)
        send("ww_ph", 7.4, at: ten + 420_000)
        // A reading for the cycle already written: counted late, not written again.
        send("ww_cod", 500, at: ten + 200_000)
        #expect(p.feedLateReadings == 1)
        // Later, three cycles: 10:05 (COD error, pH 7.3), then two silent ones.
        let next = p.takeFeedCycles(wallClock: EventTime(milliseconds: ten + 1_230_000))
        #expect(next.map(\.end.milliseconds) == [ten + 600_000, ten + 900_000, ten + 1_200_000])
        #expect(next[0].parameters.map(\.status) == [.error, .measuring, .error])
        #expect(abs(next[0].parameters[1].mean! - 7.3) < 1e-12 && next[0].parameters[0].mean == nil)
        #expect(next[1].parameters.allSatisfy { $0.mean == nil && $0.status == .error && $0.readings == 0 })
    }

    @Test("each station has its own clock: a datalogger 4 minutes ahead closes its own cycles, not another station's")
    func ownClock() throws {
        let c = try parse(
            """
              province: BD
              facility: F
              grace: 30s
              stations:
                - {id: A, park: p, zone: a, parameters: [{code: COD, kind: ww_cod, unit: mg/L}]}
                - {id: B, park: p, zone: b, parameters: [{code: COD, kind: ww_cod, unit: mg/L}]}
            """)
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        let ten = Self.day0 + 10 * 3_600_000
        func send(_ zone: String, _ value: Double, at ms: Int64, arrival: Int64) {
            p.ingest(
                topic: "parks/p/\(zone)/emissions/ww_cod/o1",
                payload: Array(#"{"value": \#(value), "ts": \#(ms)}"#.utf8),
                arrival: EventTime(milliseconds: arrival))
        }
        send("b", 10, at: ten + 60_000, arrival: ten + 60_000)
        // A's clock runs 4 minutes ahead: at 10:02 it stamps 10:06.
        send("a", 20, at: ten + 360_000, arrival: ten + 120_000)
        let now = EventTime(milliseconds: ten + 120_000)
        let cycles = p.takeFeedCycles(wallClock: now)
        // A's cycles start with its first reading (10:05) and none has closed; B's 10:00 has not
        // either: before, the newest reading of any series closed every station's cycle.
        #expect(cycles.isEmpty, "\(cycles)")
        send("b", 30, at: ten + 180_000, arrival: ten + 180_000)
        let later = p.takeFeedCycles(wallClock: EventTime(milliseconds: ten + 340_000))
        // B's cycle holds both its readings: (10 + 30) / 2 = 20; nothing of B's was late.
        #expect(later.first { $0.station == "B" }?.parameters[0].mean == 20 && p.feedLateReadings == 0)
    }

    @Test("a state file of another cycle length is not used")
    func otherCycle() throws {
        let five = try parse(
            "  province: BD\n  facility: F\n  stations: [{id: A, park: p, zone: a, parameters: [{code: COD, kind: ww_cod}]}]\n"
        )
        let ten = try parse(
            "  province: BD\n  facility: F\n  cycle: 10m\n  stations: [{id: A, park: p, zone: a, parameters: [{code: COD, kind: ww_cod}]}]\n"
        )
        let first = IngestPipeline(settings: five.pipelineSettings, logger: Logger(label: "test"))
        first.ingest(
            topic: "parks/p/a/emissions/ww_cod/o1", payload: Array(#"{"value": 1, "ts": \#(Self.day0)}"#.utf8),
            arrival: EventTime(milliseconds: Self.day0))
        let second = IngestPipeline(settings: ten.pipelineSettings, logger: Logger(label: "test"))
        #expect(second.restoreFeed(try #require(first.feedState)) == false)
        // Nothing of it was taken: the same state as a pipeline that never restored.
        let fresh = IngestPipeline(settings: ten.pipelineSettings, logger: Logger(label: "test"))
        #expect(second.feedState == fresh.feedState)
    }

    @Test(
        "a restart in the middle of a cycle: the open cycle comes back through the state file, the mean covers both parts"
    )
    func restart() throws {
        let c = try parse(
            """
              province: BD
              facility: F
              stations: [{id: NT01, park: p, zone: cetp, parameters: [{code: COD, kind: ww_cod, unit: mg/L}]}]
            """)
        func send(_ p: IngestPipeline, _ value: Double, at ms: Int64) {
            p.ingest(
                topic: "parks/p/cetp/emissions/ww_cod/o1", payload: Array(#"{"value": \#(value), "ts": \#(ms)}"#.utf8),
                arrival: EventTime(milliseconds: ms))
        }
        let ten = Self.day0 + 10 * 3_600_000
        let first = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        send(first, 100, at: ten)
        send(first, 110, at: ten + 60_000)
        let directory = try Scratch.makeDirectory(prefix: "feed-state")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("feed.json").path
        try FeedState.save(first, to: path, at: EventTime(milliseconds: ten + 90_000))
        let second = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        FeedState.restore(second, from: path, logger: Logger(label: "test"))
        send(second, 120, at: ten + 120_000)
        let cycles = second.takeFeedCycles(wallClock: EventTime(milliseconds: ten + 400_000))
        // (100 + 110 + 120) / 3 = 110; without the state file the cycle would say 120.
        #expect(cycles.count == 1 && cycles[0].parameters[0].mean == 110 && cycles[0].parameters[0].readings == 3)
    }

    @Test(
        "a full disk (a small tmpfs): cycle files wait in memory, counted, and are all written in order once there is room",
        .enabled(if: SmallFilesystem.available))
    func fullDisk() throws {
        let disk = try SmallFilesystem(bytes: 1 << 20)
        var configuration = try #require(
            try parse(
                """
                  province: BD
                  facility: F
                  stations: [{id: NT01, park: p, zone: cetp, parameters: [{code: COD, kind: ww_cod, unit: mg/L}]}]
                """
            ).feed)
        configuration.directory = disk.path + "/feed"
        let feed = RegulatorFeed(configuration: configuration, logger: Logger(label: "test"))
        func cycle(_ k: Int) -> FeedCycle {
            let start = Self.day0 + Int64(k) * 300_000
            return FeedCycle(
                station: "NT01", start: EventTime(milliseconds: start), end: EventTime(milliseconds: start + 300_000),
                parameters: [.init(code: "COD", unit: "mg/L", mean: Double(k), readings: 1, status: .measuring)])
        }
        feed.write([cycle(0)])
        let filler = disk.path + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: filler))
        while (try? handle.write(contentsOf: Data(count: 16 << 10))) != nil {}
        try? handle.write(contentsOf: Data(count: 512))
        try? handle.close()
        feed.write([cycle(1), cycle(2), cycle(3)])
        let blocked = feed.status
        #expect(
            blocked.written == 1 && blocked.unwritten == 3 && blocked.writeFailing && blocked.writeErrors >= 1,
            "\(blocked)")
        try FileManager.default.removeItem(atPath: filler)
        feed.write([])
        let status = feed.status
        #expect(status.written == 4 && status.unwritten == 0 && !status.failing, "\(status)")
        let spool = FeedSpool(root: configuration.directory)
        #expect(spool.pendingFiles().count == 4)
        let text = try String(
            contentsOfFile: configuration.directory + "/archive/" + spool.pendingFiles()[3], encoding: .utf8)
        #expect(text.hasPrefix("COD\t3\tmg/L\t"))
    }

    @Test("curl's transfer list: each file stored as NAME.part in its folder, then renamed; values escaped")
    func curlConfiguration() throws {
        var upload = RegulatorFeedConfiguration.Upload(host: "127.0.0.1", port: 2121, folder: "in")
        upload.username = "feed"
        upload.password = Secret("p\"w\\1\nurl = \"ftp://elsewhere/\"")
        let text = RegulatorFeed.curlConfiguration(
            ["NT01/2026/12/03/BD_KCN_NT01_20261203101500.txt", "KT01/2026/12/03/BD_KCN_KT01_20261203101500.txt"],
            pending: "/var/lib/parkd/feed/pending", upload: upload)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Two transfers, `next` between them, each with its own options.
        #expect(lines.filter { $0 == "next" }.count == 1)
        #expect(lines.filter { $0.hasPrefix("url = ") }.count == 2)
        #expect(lines.contains(#"url = "ftp://127.0.0.1:2121/in/NT01/2026/12/03/BD_KCN_NT01_20261203101500.txt.part""#))
        #expect(
            lines.contains(
                #"upload-file = "/var/lib/parkd/feed/pending/NT01/2026/12/03/BD_KCN_NT01_20261203101500.txt""#))
        #expect(lines.contains(#"quote = "-RNFR BD_KCN_KT01_20261203101500.txt.part""#))
        #expect(lines.contains(#"quote = "-RNTO BD_KCN_KT01_20261203101500.txt""#))
        #expect(lines.contains(#"quote = "-*DELE BD_KCN_KT01_20261203101500.txt""#))
        // `next` resets a transfer's options: the second repeats every one of the first's.
        let transfers = text.components(separatedBy: "next\n")
        #expect(transfers.count == 2)
        let options = transfers.map { $0.split(separator: "\n").map { String($0.prefix { $0 != " " }) } }
        #expect(options[0] == options[1], "\(options)")
        for option in [
            "url", "upload-file", "ftp-create-dirs", "connect-timeout", "max-time", "write-out", "user", "quote",
        ] {
            #expect(options[1].contains(option), "\(option)")
        }
        // The password's quote, backslash and line break stay inside its value: no line of
        // the list is an option the password smuggled in.
        let users = lines.filter { $0.hasPrefix("user = ") }
        #expect(users.count == 2)
        #expect(users.allSatisfy { $0 == #"user = "feed:p\"w\\1\nurl = \"ftp://elsewhere/\"""# })
        #expect(lines.allSatisfy { !$0.contains("elsewhere") || $0.hasPrefix("user = ") })
    }

    @Test("a transfer counts as sent only when curl finished it: not on a store's 226 or a delete's 250 alone")
    func sentCount() {
        #expect(RegulatorFeed.sentCount("0 250\n0 250\n") == 2)
        // The connection dropped after the store (its 226 the last reply), or after the
        // delete of an old copy (250): the file is still NAME.part on the server.
        #expect(RegulatorFeed.sentCount("0 250\n28 226\n0 250\n") == 1)
        #expect(RegulatorFeed.sentCount("56 250\n") == 0)
        #expect(RegulatorFeed.sentCount("21 550\n") == 0)
        #expect(RegulatorFeed.sentCount("") == 0)
    }

}
