import BrokerHarness
import Foundation
import MQTTClient
import TelemetryCore
import Testing

@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

/// The gateway's history store: filled by `parkd replay --history` and `parkd run`, read back
/// by `parkd query`; crash-safe, pruned by age.
@Suite("History store")
struct HistoryTests {
    /// 2026-11-23T00:00:00+07:00.
    static let day0 = Int64(1_795_366_800)

    func run(_ arguments: [String], in directory: URL, name: String) throws -> (status: Int32, output: String) {
        // A file per call: the child's output is appended to it.
        let path = directory.appendingPathComponent("\(name)-\(UUID().uuidString).out").path
        let process = try ChildProcess(try BuiltProduct.path("parkd"), arguments, outputPath: path)
        let status = process.wait()
        return (status, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    func writeFeed(_ feed: [(Int64, String, Double)], to url: URL) throws {
        var text = ""
        for (time, topic, value) in feed {
            text +=
                FeedRecord(
                    time: EventTime(milliseconds: time * 1000), topic: topic,
                    payload: Array(#"{"value": \#(value), "ts": \#(time)}"#.utf8)
                ).line + "\n"
        }
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Writes `feed` and the configuration `yaml` (after the broker line) into `directory`, then
    /// `parkd replay --history` into `history.sqlite` there; returns the paths and the replay's output.
    func backfill(_ feed: [(Int64, String, Double)], _ yaml: String, in directory: URL, out: String = "out") throws
        -> (config: String, store: String, output: String)
    {
        let feedPath = directory.appendingPathComponent("feed.jsonl")
        try writeFeed(feed, to: feedPath)
        let config = directory.appendingPathComponent("parkd.yaml").path
        try ("broker: {url: mqtt://127.0.0.1}\n" + yaml).write(toFile: config, atomically: true, encoding: .utf8)
        let store = directory.appendingPathComponent("history.sqlite").path
        let replay = try run(
            [
                "replay", feedPath.path, "--config", config, "--out", directory.appendingPathComponent(out).path,
                "--history", store,
            ], in: directory, name: "replay")
        #expect(replay.status == 0, "\(replay.output)")
        // The store was closed before the process ended: its write-ahead log is folded back
        // in and gone, so the file alone holds the whole backfill (a copy of it is whole).
        #expect(
            !FileManager.default.fileExists(atPath: store + "-wal"),
            "the replay left \(store)-wal: the store was not closed")
        return (config, store, replay.output)
    }

    @Test("replay → store → parkd query gives the hand figures, at the stored resolution and re-aggregated")
    func roundTrip() throws {
        let directory = try Scratch.makeDirectory(prefix: "history")
        defer { try? FileManager.default.removeItem(at: directory) }
        // 10:00–10:59 one PM2.5 reading a minute: minute m reads m (0…59); a meter adds 2 kWh a minute;
        // noise at 55 dBA, except 80 in the minutes 50–59. One reading at 11:00 closes the hour.
        var feed: [(Int64, String, Double)] = []
        for minute in 0...60 {
            let t = Self.day0 + 10 * 3600 + Int64(minute) * 60
            feed.append((t, "parks/p/z/emissions/pm25/aq-1", Double(minute % 60)))
            feed.append((t, "parks/p/z/energy/energy/m-1", Double(1000 + 2 * minute)))
            feed.append((t, "parks/p/z/emissions/noise/n-1", minute >= 50 && minute < 60 ? 80 : 55))
        }
        let (config, store, output) = try backfill(feed, "history: {resolution: 5m}\n", in: directory)
        #expect(output.contains("history \(store):"))
        func query(_ extra: [String]) throws -> [String] {
            let result = try run(
                [
                    "query", "--config", config, "--store", store, "--from", "2026-11-23T10:00:00+07:00", "--to",
                    "2026-11-23T11:00:00+07:00",
                ] + extra, in: directory, name: "query")
            #expect(result.status == 0, "\(result.output)")
            return result.output.split(separator: "\n").map(String.init)
        }
        // At 5 minutes: the first PM2.5 interval holds 0…4: mean 2, min 0, max 4, last 4.
        let pm = try query(["p/z/emissions/pm25/aq-1"])
        #expect(pm.first == "series,from,count,mean,min,max,last,leq,increase")
        #expect(pm.count == 13)
        #expect(pm[1] == "p/z/emissions/pm25/aq-1,2026-11-23T10:00:00.000+07:00,5,2,0,4,4,,")
        #expect(pm[12] == "p/z/emissions/pm25/aq-1,2026-11-23T10:55:00.000+07:00,5,57,55,59,59,,")
        // Re-aggregated to the hour: mean of 0…59 = 29.5.
        let hour = try query(["p/*/emissions/pm25", "--resolution", "1h", "--format", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(hour[0].utf8)) as? [String: Any])
        #expect(object["count"] as? Int == 60 && object["mean"] as? Double == 29.5 && object["max"] as? Double == 59)
        // The meter: 2 kWh a minute; the 10:00 interval's increase counts 10:01…10:04 (the first
        // reading has nothing before it): 8; the hour 8 + 11 × 10 = 118.
        let meter = try query(["p/z/energy/energy/m-1", "--resolution", "1h"])
        #expect(meter[1].hasSuffix(",118"), "\(meter)")
        // Noise as LAeq: the hour holds 50 minutes at 55 and 10 at 80: 72.29 dBA.
        let noise = try query(["p/z/emissions/noise", "--resolution", "1h", "--format", "json"])
        let n = try #require(try JSONSerialization.jsonObject(with: Data(noise[0].utf8)) as? [String: Any])
        #expect(abs((n["leq"] as? Double ?? 0) - 72.287) < 0.001)
        // Replaying into the same store again changes nothing: rows are keyed, never doubled.
        _ = try backfill(feed, "history: {resolution: 5m}\n", in: directory, out: "out2")
        #expect(try query(["p/z/emissions/pm25/aq-1"]) == pm)
        // Clear errors.
        let bad = try run(["query", "--config", config, "--store", store, "a/b/c/d/e/f"], in: directory, name: "bad")
        #expect(bad.status == 2 && bad.output.contains("expected a series as park/zone/pillar/kind/sensor"))
        let missing = try run(
            ["query", "--config", config, "--store", directory.appendingPathComponent("none.sqlite").path],
            in: directory, name: "missing")
        #expect(missing.status == 2 && missing.output.contains("no history store at"))
    }

    @Test("a year of daily means from the store gives the annual figure of the compliance record")
    func annual() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-year")
        defer { try? FileManager.default.removeItem(at: directory) }
        // 2025: 219 days at 30 µg/m³, then 146 at 20, a reading every 15 minutes.
        let start = Int64(1_735_664_400)  // 2025-01-01T00:00:00+07:00
        var feed: [(Int64, String, Double)] = []
        for quarter in 0..<(365 * 96) {
            feed.append((start + Int64(quarter) * 900, "parks/p/z/emissions/pm25/aq-1", quarter / 96 < 219 ? 30 : 20))
        }
        feed.append((start + 365 * 86400 + 900, "parks/p/z/emissions/pm25/aq-1", 20))
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/rules").path
        let (config, store, _) = try backfill(
            feed,
            """
            summaries: {intervals: [1d]}
            rule_files: [\(rules)/qcvn05-2023-ambient-air.yaml]
            history: {resolution: 1h}

            """, in: directory)
        let days = try run(
            [
                "query", "p", "--config", config, "--store", store, "--from", "2025-01-01", "--to", "2026-01-01",
                "--resolution", "1d",
            ], in: directory, name: "days")
        let means = days.output.split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[3])! }
        // (219·30 + 146·20) / 365 = 26.
        #expect(means.count == 365 && abs(means.reduce(0, +) / 365 - 26) < 1e-9)
        let year = try run(
            [
                "query", "--compliance", "--rule", "qcvn05-pm25-year", "--config", config, "--store", store, "--from",
                "2025-01-01", "--to", "2026-01-01",
            ], in: directory, name: "year")
        let record = try #require(
            try JSONSerialization.jsonObject(with: Data(year.output.split(separator: "\n")[0].utf8)) as? [String: Any])
        #expect(abs((record["value"] as? Double ?? 0) - 26) < 1e-9 && record["exceeded"] as? Bool == true)
    }

    @Test("retention removes exactly the rows older than it, a chunk at a time")
    func retention() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-prune")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try HistoryStore(path: directory.appendingPathComponent("h.sqlite").path, pruneChunk: 7)
        let id = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "a")
        let day: Int64 = 86_400_000
        // 40 days of hourly rollups.
        var batch = HistoryBatch()
        for hour in 0..<(40 * 24) {
            batch.rollups.append(
                Rollup(series: id, start: Int64(hour) * 3_600_000, count: 1, sum: 1, min: 1, max: 1, last: 1))
        }
        var retention = HistoryRetention()
        retention.rollupsMilliseconds = 30 * day
        batch.at = 0
        try store.write(batch, retention: retention)
        func count(_ sql: String) throws -> Int64 {
            let s = try store.database.prepare(sql)
            _ = try s.step()
            return s.int(0)
        }
        #expect(try count("SELECT count(*) FROM rollups") == 960)
        // At day 40, retention 30 days: the 240 rows before day 10 go, 7 per batch.
        var batches = 0
        while try count("SELECT count(*) FROM rollups WHERE start_ms < \(10 * day)") > 0 {
            try store.write(HistoryBatch(at: 40 * day), retention: retention)
            batches += 1
            #expect(batches <= 240 / 7 + 1)
        }
        #expect(batches == (240 + 6) / 7)
        #expect(try count("SELECT count(*) FROM rollups") == 720)
        #expect(try count("SELECT min(start_ms) FROM rollups") == 10 * day)
    }

    @Test("kill -9 while parkd writes history: the store opens intact with every committed batch, and goes on")
    func killNine() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "history-kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration =
            ParkdProcess.configuration(brokerURL: broker.url, clientID: "parkd-history", summaries: "summaries.jsonl")
            + "\nhistory: {path: history.sqlite, resolution: 5m}\nstate_dir: state\n"
        let first = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(first.waitForLog("connected to"))
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        // An hour two hours ago, a reading a minute: 12 five-minute intervals, all closed at the next boundary.
        let hour = (Int64(Date().timeIntervalSince1970) / 3600 - 2) * 3600
        for minute in 0..<60 {
            try sensor.publish(
                "parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(minute), "ts": \#(hour + Int64(minute) * 60)}"#,
                qos: .atLeastOnce)
        }
        try sensor.flush()
        // Summaries every second: the batch is committed within a second or two.
        let store = directory.appendingPathComponent("history.sqlite").path
        func rows() -> Int {
            guard let reader = try? HistoryReader(path: store, utcOffsetMinutes: 420),
                let found = try? reader.rollups(matching: SeriesMatcher(), from: 0, to: .max, resolution: 0)
            else { return -1 }
            return found.count
        }
        let deadline = Date(timeIntervalSinceNow: 10)
        while rows() < 12 && Date() < deadline { usleep(100_000) }
        #expect(rows() == 12)
        // More readings (the next hour) and, at once, kill -9: what was committed stays.
        for minute in 0..<60 {
            try sensor.publish(
                "parks/p/z/emissions/pm25/aq-1", text: #"{"value": 1, "ts": \#(hour + 3600 + Int64(minute) * 60)}"#,
                qos: .atLeastOnce)
        }
        try sensor.flush()
        first.process.signal(SIGKILL)
        _ = first.process.wait(timeout: 10)
        let afterKill = rows()
        // The first hour is whole; of the second, what was committed before the kill.
        #expect((12...24).contains(afterKill), "\(afterKill)")
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        check.arguments = [store, "PRAGMA integrity_check"]
        let pipe = Pipe()
        check.standardOutput = pipe
        try check.run()
        check.waitUntilExit()
        #expect(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "ok\n")
        // A restart opens the same store and goes on writing.
        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("connected to"))
        // Another sensor: aq-1's own clock is past this hour (its later readings), so its
        // readings of three hours ago would be late for it.
        for minute in 0..<5 {
            try sensor.publish(
                "parks/p/z/emissions/pm25/aq-2", text: #"{"value": 7, "ts": \#(hour - 3600 + Int64(minute) * 60)}"#,
                qos: .atLeastOnce)
        }
        try sensor.flush()
        // The new interval (three hours ago) arrives; the broker may also hand back messages
        // of the second hour that were in flight at the kill (a persistent session).
        func earlier() -> Int {
            guard let reader = try? HistoryReader(path: store, utcOffsetMinutes: 420),
                let found = try? reader.rollups(
                    matching: SeriesMatcher(), from: (hour - 3600) * 1000, to: hour * 1000, resolution: 0)
            else { return -1 }
            return found.count
        }
        let again = Date(timeIntervalSinceNow: 10)
        while earlier() < 1 && Date() < again { usleep(100_000) }
        #expect(earlier() == 1 && rows() >= afterKill + 1)
        #expect(second.terminate() == 0)
        sensor.stop()
    }
}
