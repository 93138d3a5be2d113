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
