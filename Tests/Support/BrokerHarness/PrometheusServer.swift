import Foundation

/// A real Prometheus (Debian's `prometheus` package) on a free loopback port, with its storage
/// in a scratch folder and one scrape job per target, every second; queried through its HTTP
/// API as Grafana would.
public final class PrometheusServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private var process: ChildProcess?

    /// `targets`: (job name, loopback port, metrics path).
    public init(targets: [(job: String, port: Int, path: String)]) throws {
        directory = try Scratch.makeDirectory(prefix: "prometheus")
        port = try FreePort.pick()
        let jobs = targets.map { t in
            """
              - job_name: \(t.job)
                metrics_path: \(t.path)
                static_configs: [{targets: ["127.0.0.1:\(t.port)"]}]
            """
        }
        try """
        global: {scrape_interval: 1s, evaluation_interval: 1s}
        scrape_configs:
        \(jobs.joined(separator: "\n"))
        """.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let binary = try Command.find("prometheus")
        process = try ChildProcess(
            binary,
            [
                "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ],
            outputPath: directory.appendingPathComponent("prometheus.log").path)
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline {
            if let (status, _) = try? HTTPGet.get(port: port, path: "/-/ready"), status == 200 { return }
            guard process?.isRunning == true else { break }
            usleep(200_000)
        }
        throw HarnessError("prometheus did not become ready: \(log.suffix(600))")
    }

    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("prometheus.log"), encoding: .utf8)) ?? ""
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    public func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        if process.wait(timeout: 10) == nil {
            process.signal(SIGKILL)
            _ = process.wait()
        }
        self.process = nil
    }

    /// An instant query: each result's labels and value (as Prometheus prints it).
    public func query(_ promql: String) throws -> [(labels: [String: String], value: String)] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: allowed) ?? promql
        let (status, body) = try HTTPGet.get(port: port, path: "/api/v1/query?query=\(encoded)")
        guard status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else { throw HarnessError("query '\(promql)' failed: \(status) \(body.prefix(300))") }
        return result.map { item in
            let labels = item["metric"] as? [String: String] ?? [:]
            let value = (item["value"] as? [Any])?.last as? String ?? ""
            return (labels, value)
        }
    }
}
