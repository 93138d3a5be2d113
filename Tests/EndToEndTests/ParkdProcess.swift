import BrokerHarness
import Foundation

/// A `parkd run` process with its own configuration, log and summaries file.
final class ParkdProcess {
    let directory: URL
    let process: ChildProcess
    var logPath: String { directory.appendingPathComponent("parkd.log").path }
    var summariesPath: String { directory.appendingPathComponent("summaries.jsonl").path }
    /// Where this process's output starts in the log: a restart in the same folder appends
    /// to it, and what an earlier process logged must not answer for this one.
    private let logStart: Int

    init(directory: URL, configuration: String, arguments: [String] = []) throws {
        self.directory = directory
        logStart =
            (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("parkd.log").path))?[
                .size] as? Int ?? 0
        let configPath = directory.appendingPathComponent("parkd.yaml").path
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = try ChildProcess(
            try BuiltProduct.path("parkd"), ["run", "--config", configPath] + arguments,
            outputPath: directory.appendingPathComponent("parkd.log").path)
    }

    /// What this process logged (not an earlier one in the same folder).
    var log: String {
        guard let data = FileManager.default.contents(atPath: logPath), data.count >= logStart else { return "" }
        return String(decoding: data.dropFirst(logStart), as: UTF8.self)
    }

    /// Waits until the log contains `text`; false on timeout.
    func waitForLog(_ text: String, timeout: Double = 15) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            usleep(50_000)
        }
        return false
    }

    /// SIGTERM, then the exit status (nil if it did not exit within the timeout).
    func terminate(timeout: Double = 15) -> Int32? {
        process.signal(SIGTERM)
        return process.wait(timeout: timeout)
    }

    /// Every summary line written so far.
    /// The per-series detail lines (`summaries.series_path`).
    func seriesLines() throws -> [[String: Any]] {
        let text = try String(contentsOf: directory.appendingPathComponent("series.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func summaries() throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: summariesPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map {
            guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
                throw HarnessError("summary line is not a JSON object: \($0)")
            }
            return object
        }
    }

    func total(_ key: String) throws -> Int {
        try summaries().reduce(0) { $0 + ($1[key] as? Int ?? 0) }
    }

    func totalRejected(_ reason: String) throws -> Int {
        try summaries().reduce(0) { $0 + (($1["rejected"] as? [String: Int])?[reason] ?? 0) }
    }

    static func configuration(brokerURL: String, clientID: String, summaries: String, extraBroker: String = "")
        -> String
    {
        """
        broker:
          url: \(brokerURL)
          client_id: \(clientID)
          reconnect: {initial: 100ms, max: 1s}
        \(extraBroker)
        http: off
        summaries:
          path: \(summaries)
          series_path: series.jsonl
          interval: 1s
        """
    }
}
