import BrokerHarness
import Foundation
import TelemetryCore

/// `parkd replay` with the packs: readings per second on one core and on more, peak memory
/// with many series, and the size of a summary line per park.
enum ReplayBenchmark {
    struct Run {
        var readings: Int
        var seconds: Double
        var cpu: Double
        var peakMiB: Double
        var rate: Double { Double(readings) / seconds }
    }

    /// Replays `feed` with `workers` threads (nil: the binary's default, for a baseline that
    /// has no such option); the summaries land in `out`.
    static func replay(
        parkd: String, feed: String, config: String, out: String, workers: Int?, readings: Int
    ) throws -> Run {
        var arguments = ["replay", feed, "--config", config, "--out", out]
        if let workers { arguments += ["--workers", "\(workers)"] }
        let log = out + ".log"
        let result = try BenchSetup.measure(parkd, arguments, output: log)
        guard result.status == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw HarnessError("parkd replay exited \(result.status): \(text.suffix(600))")
        }
        return Run(readings: readings, seconds: result.wall, cpu: result.cpu, peakMiB: result.peakMiB)
    }

    /// The benchmark's two feeds: 1 M readings of 1 000 sensors, and 100 000 series of three
    /// readings each (so every series holds buckets in every window).
    static let start = Int64(1_795_400_000_000)
    static let narrow = (name: "feed-1k.jsonl", readings: 1_000_000, sensors: 1000, seed: UInt64(7))
    static let wide = (name: "feed-100k.jsonl", readings: 300_000, sensors: 100_000, seed: UInt64(8))

    /// Writes one of those feeds (or any `sensors` × 3 readings) into `work`; returns its path.
    static func writeFeed(
        _ work: URL, _ feed: (name: String, readings: Int, sensors: Int, seed: UInt64)
    ) throws -> String {
        let path = work.appendingPathComponent(feed.name).path
        try BenchSetup.writeFeed(path, count: feed.readings, sensors: feed.sensors, seed: feed.seed, start: start)
        return path
    }

    /// A baseline build on one worker, like the rows it stands beside; a build without
    /// `--workers` on its own default. Returns the run and its label.
    static func baseline(
        parkd: String, feed: String, config: String, out: String, readings: Int
    ) throws -> (run: Run, label: String) {
        if let one = try? replay(parkd: parkd, feed: feed, config: config, out: out, workers: 1, readings: readings) {
            return (one, "baseline, packs, 1 worker")
        }
        return (
            try replay(parkd: parkd, feed: feed, config: config, out: out, workers: nil, readings: readings),
            "baseline, packs, its default workers"
        )
    }

    static func config(_ work: URL, name: String, packs: Bool, maxSeries: Int, parkd: String? = nil) throws -> String {
        let path = work.appendingPathComponent(name + ".yaml").path
        try """
        broker: {url: "mqtt://127.0.0.1:1"}
        summaries: {path: summaries.jsonl}
        \(try BenchSetup.common(packs: packs, maxSeries: maxSeries, parkd: parkd))
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Summary lines with parks in them: mean bytes per line, and parks per line.
    static func summaryLineSize(_ path: String) -> (bytes: Double, parks: Double)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var bytes = 0
        var parks = 0
        var lines = 0
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let list = object["parks"] as? [[String: Any]], !list.isEmpty
            else { continue }
            bytes += line.utf8.count
            parks += Set(list.compactMap { $0["park"] as? String }).count
            lines += 1
        }
        guard lines > 0 else { return nil }
        return (Double(bytes) / Double(lines), Double(parks) / Double(lines))
    }
}
