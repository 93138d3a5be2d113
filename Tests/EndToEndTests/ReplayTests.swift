import BrokerHarness
import Foundation
import ParkSimulation
import TelemetryCore
import Testing

@Suite("parkd replay")
struct ReplayTests {
    func replay(_ directory: URL, feed: String, summaries: String) throws -> (status: Int32, log: String) {
        let log = directory.appendingPathComponent("replay-\(UUID().uuidString.prefix(6)).log").path
        let process = try ChildProcess(
            try BuiltProduct.path("parkd"),
            [
                "replay", feed, "--config", directory.appendingPathComponent("parkd.yaml").path, "--summaries",
                summaries,
            ],
            outputPath: log)
        let status = process.wait()
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test("the same feed gives byte-identical summaries; bad feed lines are named and skipped")
    func deterministic() throws {
        let directory = try Scratch.makeDirectory(prefix: "replay")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "broker: {url: mqtt://127.0.0.1}\nsummaries: {interval: 1m}\n".write(
            to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)

        var generator = TrafficGenerator(parks: 2, sensorsPerPark: 14, seed: 4, malformedEvery: 97)
        var lines: [String] = []
        let start = Int64(1_795_400_000_000)
        for i in 0..<3_000 {
            let time = EventTime(milliseconds: start + Int64(i) * 400)  // 20 minutes of traffic
            let message = generator.next(at: time)
            lines.append(FeedRecord(time: time, topic: message.topic, payload: Array(message.payload.utf8)).line)
            if i == 2 { lines.append("this line is not JSON") }
        }
        let feed = directory.appendingPathComponent("feed.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: feed, atomically: true, encoding: .utf8)

        let first = try replay(directory, feed: feed, summaries: directory.appendingPathComponent("a.jsonl").path)
        let second = try replay(directory, feed: feed, summaries: directory.appendingPathComponent("b.jsonl").path)
        #expect(first.status == 0 && second.status == 0)
        let a = try Data(contentsOf: directory.appendingPathComponent("a.jsonl"))
        let b = try Data(contentsOf: directory.appendingPathComponent("b.jsonl"))
        #expect(!a.isEmpty && a == b)
        #expect(first.log.contains("feed.jsonl:4: skipped"), "\(first.log)")
        #expect(first.log.contains("3000 messages (1 bad feed lines skipped)"), "\(first.log)")

        // 20 minutes in 1-minute intervals aligned to the minute: 21 lines, the first and last partial.
        let summaries = String(decoding: a, as: UTF8.self).split(separator: "\n")
        #expect(summaries.count == 21)
        let objects = try summaries.map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.reduce(0) { $0 + ($1["messages"] as! Int) } == 3000)
        let broken = 3000 / 97
        #expect(objects.reduce(0) { $0 + (($1["rejected"] as! [String: Int])["bad_field"]!) } == broken)
        #expect(objects.reduce(0) { $0 + ($1["accepted"] as! Int) } == 3000 - broken)
        #expect(objects.first?["from"] as? String == "2026-11-23T09:13:20.000+07:00")
        #expect((objects[1]["from"] as? String)?.hasSuffix(":14:00.000+07:00") == true)
    }

    @Test("a missing feed is a clear error")
    func missingFeed() throws {
        let directory = try Scratch.makeDirectory(prefix: "replay-missing")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "broker: {url: mqtt://127.0.0.1}\n".write(
            to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        let result = try replay(
            directory, feed: "/nonexistent/feed.jsonl", summaries: directory.appendingPathComponent("s").path)
        #expect(result.status == 1)
        #expect(
            result.log.contains("cannot read '/nonexistent/feed.jsonl': No such file or directory"), "\(result.log)")
    }

    @Test("a feed line stamped 2100 gives one gap line per schedule, not a line for every minute until then")
    func jumpToTheFuture() throws {
        let directory = try Scratch.makeDirectory(prefix: "replay-jump")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "broker: {url: mqtt://127.0.0.1}\nsummaries: {intervals: [1m, 1h, 1d]}\n".write(
            to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        let t0 = 1_795_400_000.0  // 2026-11-23T02:13:20Z
        // 4 102 444 800 s is 2100-01-01T00:00:00Z; then the feed's clock is back in 2026.
        let feed = [
            (t0, 1), (t0 + 30, 2), (4_102_444_800, 3), (t0 + 60, 4), (t0 + 90, 5),
        ].map { #"{"t":\#($0.0),"topic":"parks/p/z/emissions/pm25/s\#($0.1)","payload":"{\"value\":\#($0.1)}"}"# }
        let path = directory.appendingPathComponent("feed.jsonl").path
        try (feed.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let summaries = directory.appendingPathComponent("s.jsonl").path
        let (status, log) = try replay(directory, feed: path, summaries: summaries)
        #expect(status == 0, "\(log)")
        let lines = try String(contentsOfFile: summaries, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(lines.count < 20, "\(lines.count) summary lines")
        let gaps = lines.filter { $0["gap_intervals"] != nil }
        #expect(gaps.count >= 3)
        // The minute schedule's gap covers from 02:14 to the last minute before 2100-01-01T00:00Z (07:00 local).
        let minuteGap = try #require(gaps.first { $0["period"] as? String == "1m" })
        #expect(minuteGap["from"] as? String == "2026-11-23T09:14:00.000+07:00")
        #expect(minuteGap["to"] as? String == "2100-01-01T07:00:00.000+07:00")
        // Nothing counted is lost: each schedule's lines hold all five messages.
        for period in ["1m", "1h", "1d"] {
            let messages = lines.filter { $0["period"] as? String == period }.reduce(0) {
                $0 + ($1["messages"] as! Int)
            }
            #expect(messages == 5, "\(period)")
        }
        #expect(log.contains("clock stepped back"))
    }

    @Test("replay writes its own folder, never the live daemon's files unless told, and drops its old rotated files")
    func ownOutputs() throws {
        let directory = try Scratch.makeDirectory(prefix: "replay-out")
        defer { try? FileManager.default.removeItem(at: directory) }
        let live = directory.appendingPathComponent("live-summaries.jsonl").path
        try "live line\n".write(toFile: live, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("parkd.yaml").path
        try "broker: {url: mqtt://127.0.0.1}\nsummaries: {path: \(live), interval: 1m}\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let feed = directory.appendingPathComponent("day.jsonl").path
        try #"{"t":1795400000,"topic":"parks/p/z/emissions/pm25/s1","payload":"{\"value\":1}"}"#.appending("\n")
            .write(toFile: feed, atomically: true, encoding: .utf8)
        func replay(_ extra: [String]) throws -> Int32 {
            try ChildProcess(
                try BuiltProduct.path("parkd"), ["replay", feed, "--config", config] + extra,
                outputPath: directory.appendingPathComponent("replay.log").path
            ).wait()
        }
        // By default: day.replay/ beside the feed; the live file is untouched.
        try FileManager.default.createDirectory(
            atPath: directory.appendingPathComponent("day.replay").path, withIntermediateDirectories: true)
        let stale = directory.appendingPathComponent("day.replay/summaries.jsonl.3").path
        try "an old rotation\n".write(toFile: stale, atomically: true, encoding: .utf8)
        #expect(try replay([]) == 0)
        #expect(
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("day.replay/summaries.jsonl").path))
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(try String(contentsOfFile: live, encoding: .utf8) == "live line\n")
        // Naming the live file is refused (exit 2) unless --overwrite-live.
        #expect(try replay(["--summaries", live]) == 2)
        #expect(try String(contentsOfFile: live, encoding: .utf8) == "live line\n")
        let log = try String(contentsOfFile: directory.appendingPathComponent("replay.log").path, encoding: .utf8)
        #expect(log.contains("refusing to overwrite \(live)"))
        #expect(try replay(["--summaries", live, "--overwrite-live"]) == 0)
        #expect(try String(contentsOfFile: live, encoding: .utf8).contains("\"type\":\"ingest\""))
        // Two outputs on one file are refused (exit 2), whatever spelling names it; it is not touched.
        let shared = directory.appendingPathComponent("both.jsonl").path
        let spelled = directory.appendingPathComponent("./sub/../both.jsonl").path
        #expect(try replay(["--summaries", shared, "--alerts", spelled]) == 2)
        #expect(!FileManager.default.fileExists(atPath: shared))
        let refused = try String(contentsOfFile: directory.appendingPathComponent("replay.log").path, encoding: .utf8)
        #expect(refused.contains("two outputs would write one file"), "\(refused)")
        #expect(try replay(["--compliance", shared, "--history", shared]) == 2)
    }
}
