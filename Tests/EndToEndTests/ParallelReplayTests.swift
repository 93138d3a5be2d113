import BrokerHarness
import Foundation
import ParkSimulation
import TelemetryCore
import Testing

@Suite("parkd replay on several cores")
struct ParallelReplayTests {
    @Test(
        "--workers 1, 2 and 5, and lines written in place (with --history), give the same summaries, per-series detail, alerts and compliance records, byte for byte"
    )
    func sameBytes() throws {
        let directory = try Scratch.makeDirectory(prefix: "parallel")
        defer { try? FileManager.default.removeItem(at: directory) }
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/rules").path
        // Every pack, plus a low PM2.5 threshold and a stale rule, so that alerts fire in every park.
        try """
        broker: {url: mqtt://127.0.0.1}
        summaries: {interval: 1m, series_path: series.jsonl}
        windows:
          - {name: 1m, length: 1m, bucket: 15s}
          - {name: 15m, length: 15m, bucket: 5m}
          - {name: 1h, length: 1h, bucket: 15m}
          - {name: 8h, length: 8h, bucket: 1h}
          - {name: 24h, length: 24h, bucket: 1h}
        rule_files: [\(rules)/qcvn05-2023-ambient-air.yaml, \(rules)/qcvn26-2010-noise.yaml, \(rules)/sensor-health.yaml, \(rules)/energy.yaml]
        parks: {"*": {zones: {"*": ordinary}}}
        rules:
          - {id: pm25-test, description: "PM2.5 above 35", severity: warning, reference: "test", match: {kind: pm25}, when: {above: 35, clear: 34}}
          - {id: quiet, description: "silent 3 minutes", stale: 3m, match: {kind: noise}}
        """.write(to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        var generator = TrafficGenerator(parks: 9, sensorsPerPark: 21, seed: 11, malformedEvery: 211)
        var lines: [String] = []
        let start = Int64(1_795_402_000_000)  // 09:46:40 local: the 09:00 hour closes on the way
        for i in 0..<12_000 {
            let time = EventTime(milliseconds: start + Int64(i) * 150)  // 30 minutes
            let message = generator.next(at: time)
            // Park vsip-1 goes quiet for 10 minutes: its noise sensors go stale and come back.
            if message.topic.hasPrefix("parks/vsip-1/"), (4_000..<8_000).contains(i) { continue }
            lines.append(FeedRecord(time: time, topic: message.topic, payload: Array(message.payload.utf8)).line)
        }
        let feed = directory.appendingPathComponent("feed.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: feed, atomically: true, encoding: .utf8)

        var outputs: [[Data]] = []
        // The last run fills a history store: its lines are then written in place, on the
        // ingesting thread; the others hand them to the summary writer's queue.
        for (workers, history) in [(1, false), (2, false), (5, false), (1, true)] {
            let out = directory.appendingPathComponent("w\(workers)\(history ? "h" : "")").path
            let process = try ChildProcess(
                try BuiltProduct.path("parkd"),
                [
                    "replay", feed, "--config", directory.appendingPathComponent("parkd.yaml").path, "--out", out,
                    "--workers", "\(workers)",
                ] + (history ? ["--history", out + ".db"] : []),
                outputPath: out + ".log")
            #expect(process.wait() == 0)
            outputs.append(
                try ["summaries.jsonl", "series.jsonl", "alerts.jsonl", "compliance.jsonl"].map {
                    try Data(contentsOf: URL(fileURLWithPath: out + "/" + $0))
                })
        }
        let alerts = String(decoding: outputs[0][2], as: UTF8.self)
        #expect(alerts.contains(#""rule":"pm25-test""#) && alerts.contains(#""rule":"quiet""#))
        #expect(!outputs[0][1].isEmpty)
        #expect(String(decoding: outputs[0][3], as: UTF8.self).contains(#""period":"1h""#))
        #expect(outputs[1] == outputs[0])
        #expect(outputs[2] == outputs[0])
        #expect(outputs[3] == outputs[0], "lines written in place differ from the writer queue's")
        // Every park appears in the summaries, once per line.
        let last = String(decoding: outputs[0][0], as: UTF8.self).split(separator: "\n").dropLast().last!
        let object = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        let parks = try #require(object["parks"] as? [[String: Any]])
        let names = parks.map { "\($0["park"]!)/\($0["pillar"]!)" }
        #expect(Set(names).count == names.count && Set(parks.compactMap { $0["park"] as? String }).count == 9)
    }
}
