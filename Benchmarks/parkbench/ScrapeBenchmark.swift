import BrokerHarness
import Foundation
import MQTTClient
import TelemetryCore

/// The cost of a Prometheus scrape of the sensor figures (`/metrics/sensors`, 10 000 series,
/// the windows' means included) beside a scrape of parkd's own metrics (`/metrics`), on one
/// running parkd fed through a real broker: wall time per scrape, parkd's CPU per scrape
/// (user+sys from /proc), and the reply's size.
enum ScrapeBenchmark {
    static func run(parkd parkdPath: String, label: String = "parkd", series: Int = 10_000, scrapes: Int = 30) throws {
        let broker = try Broker()
        let work = try Scratch.makeDirectory(prefix: "scrape-bench")
        defer { try? FileManager.default.removeItem(at: work) }
        let port = try FreePort.pick()
        let config = work.appendingPathComponent("parkd.yaml").path
        try """
        broker: {url: "\(broker.url)", client_id: parkd-scrape, clean_session: true}
        subscriptions: [{filter: "parks/#", qos: 1}]
        summaries: {path: summaries.jsonl, interval: 1s}
        http: {listen: "127.0.0.1:\(port)"}
        limits: {max_series: \(series * 2), max_series_per_park: \(series * 2)}
        prometheus: {max_series: \(series * 2)}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let parkd = try ChildProcess(
            parkdPath, ["run", "--config", config], outputPath: work.appendingPathComponent("parkd.log").path)
        defer {
            parkd.signal(SIGTERM)
            _ = parkd.wait(timeout: 30)
        }
        guard waitUntil(timeout: 20, { (try? HTTPGet.get(port: port, path: "/healthz"))?.status == 200 }) else {
            throw HarnessError("parkd did not answer on \(port)")
        }
        let publisher = try MQTTPublisher(
            configuration: .init(
                url: try BrokerURL(parsing: broker.url), clientID: "scrape-pub", cleanSession: true, maxInflight: 100,
                maxQueuedPublishes: 2000))
        try publisher.connect()
        // Three readings per series, a minute apart, an hour ago: every window has a mean.
        let now = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
        for round in 0..<3 {
            for s in 0..<series {
                let t = now + Int64(round) * 60_000
                try publisher.publish(
                    "parks/p\(s % 10)/z\(s % 7)/emissions/pm25/s\(s)",
                    payload: Array(#"{"value": \#(20 + s % 30), "ts": \#(t)}"#.utf8), qos: .atLeastOnce)
            }
        }
        try publisher.flush(timeout: 120)
        publisher.disconnect()
        guard
            waitUntil(
                timeout: 60,
                {
                    (try? HTTPGet.get(port: port, path: "/metrics"))?.body.contains("parkd_series_count \(series).0")
                        == true
                })
        else { throw HarnessError("parkd did not hold \(series) series") }
        print("Scrapes of one \(label) holding \(series) series (wall time, its CPU user+sys, size, per scrape):")
        // curl reads each reply (its own time_total): a client that parses the text would
        // measure itself.
        let curl = try Command.find("curl")
        // The sensor text is built at most once a second (a newer parkd serves it again within
        // one): scrapes 1.1 s apart measure a build each; back to back, what the cache saves.
        let runs: [(path: String, label: String, scrapes: Int, apart: Double)] = [
            ("/metrics", "/metrics", scrapes, 0), ("/metrics/sensors", "/metrics/sensors", scrapes / 3, 1.1),
            ("/metrics/sensors", "  back to back", scrapes, 0),
        ]
        for (path, name, scrapes, apart) in runs {
            let (_, body) = try HTTPGet.get(port: port, path: path)  // warm, and count the samples
            let samples = body.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
            if apart > 0 { Thread.sleep(forTimeInterval: apart) }
            let cpu = cpuSeconds(parkd.pid)
            var wall = 0.0
            var bytes = 0.0
            for k in 0..<scrapes {
                // parkd is idle while it waits; its per-second tick (about 0.1 ms at 10 000 series) is counted in.
                if apart > 0 && k > 0 { Thread.sleep(forTimeInterval: apart) }
                let out = try Command.run(
                    curl,
                    [
                        "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
                        "http://127.0.0.1:\(port)\(path)",
                    ])
                let parts = out.split(separator: " ")
                wall += Double(parts.first ?? "") ?? .nan
                bytes = Double(parts.last ?? "") ?? .nan
            }
            let used = (cpuSeconds(parkd.pid) - cpu) / Double(scrapes)
            print(
                String(
                    format: "  %-17@ %7.1f ms wall (curl), %7.1f ms CPU, %7.0f KiB, %6d samples per scrape",
                    name as NSString, wall / Double(scrapes) * 1000, used * 1000, bytes / 1024, samples))
        }
    }
}
