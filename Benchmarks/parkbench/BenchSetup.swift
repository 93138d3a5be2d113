import BrokerHarness
import Foundation
import ParkSimulation
import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// What every parkd run of the benchmark shares: the shipped packs, the default windows plus
/// `8h` (CO and O3 8 h means), and feeds from the traffic generator.
enum BenchSetup {
    static let packs = [
        "qcvn05-2023-ambient-air.yaml", "qcvn26-2010-noise.yaml", "sensor-health.yaml", "energy.yaml",
    ]

    /// Deploy/rules, found from the working directory or beside the build folder.
    static func rulesDirectory() throws -> String {
        var candidates = [FileManager.default.currentDirectoryPath]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            candidates.append(url.path)
        }
        for base in candidates {
            let path = base + "/Deploy/rules"
            if FileManager.default.fileExists(atPath: path + "/" + packs[0]) { return path }
        }
        throw HarnessError("cannot find Deploy/rules (run parkbench from the repository)")
    }

    /// The packs of the tree a parkd binary was built in (`X/.build/release/parkd` → `X/Deploy/rules`):
    /// a baseline reads the packs of its own version, which may lack keys that newer packs use.
    static func rulesDirectory(of parkd: String?) throws -> String {
        if let parkd {
            var url = URL(fileURLWithPath: parkd).resolvingSymlinksInPath()
            for _ in 0..<5 {
                url.deleteLastPathComponent()
                let path = url.path + "/Deploy/rules"
                if FileManager.default.fileExists(atPath: path + "/" + packs[0]) { return path }
            }
        }
        return try rulesDirectory()
    }

    /// Every zone of every park ordinary, so that noise rules that apply only in declared zones
    /// (`applies_at`) judge as much traffic as before they did.
    static let everywhere = #"parks: {"*": {zones: {"*": ordinary}}}"#

    /// Whether the packs in `rules` place rules by zone class (a version that reads `zones:`).
    static func scoped(_ rules: String) -> Bool {
        (try? String(contentsOfFile: rules + "/qcvn26-2010-noise.yaml", encoding: .utf8))?.contains("applies_at")
            == true
    }

    /// The parts of a parkd configuration the benchmark's runs share (`packs: false`: no rules),
    /// with the packs of `parkd`'s own tree.
    static func common(packs: Bool, maxSeries: Int, parkd: String? = nil) throws -> String {
        let rules = try rulesDirectory(of: parkd)
        return """
            windows:
              - {name: 1m, length: 1m, bucket: 15s}
              - {name: 15m, length: 15m, bucket: 5m}
              - {name: 1h, length: 1h, bucket: 15m}
              - {name: 8h, length: 8h, bucket: 1h}
              - {name: 24h, length: 24h, bucket: 1h}
            limits: {max_series: \(maxSeries), max_series_per_park: \(maxSeries), max_ahead: 1d, max_age: 3650d}
            log: {level: warning}
            http: off
            """ + (packs ? "\nrule_files:\n" + Self.packs.map { "  - \(rules)/\($0)" }.joined(separator: "\n") : "")
                + (packs && scoped(rules) ? "\n" + everywhere : "")
    }

    static func binary(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("\(name) is not built next to parkbench (\(path)); run make release")
        }
        return path
    }

    /// `readings` messages, one JSON reading each, from `sensors` sensors in turn, 10 s apart per sensor.
    static func messages(count: Int, sensors: Int, seed: UInt64, start: Int64) -> [(
        time: EventTime, topic: String, payload: [UInt8]
    )] {
        var generator = TrafficGenerator(
            parks: max(1, sensors / 100), sensorsPerPark: min(100, sensors), seed: seed)
        return (0..<count).map { i in
            let time = EventTime(milliseconds: start + Int64(i) * 10_000 / Int64(sensors))
            let m = generator.next(at: time)
            return (time, m.topic, Array(m.payload.utf8))
        }
    }

    /// Writes those messages as a feed file (what `parksim record` writes).
    static func writeFeed(_ path: String, count: Int, sensors: Int, seed: UInt64, start: Int64) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let out = FileHandle(forWritingAtPath: path)
        else { throw HarnessError("cannot write \(path)") }
        defer { try? out.close() }
        var chunk = ""
        for m in messages(count: count, sensors: sensors, seed: seed, start: start) {
            chunk += FeedRecord(time: m.time, topic: m.topic, payload: m.payload).line + "\n"
            if chunk.utf8.count > 1 << 20 {
                out.write(Data(chunk.utf8))
                chunk = ""
            }
        }
        out.write(Data(chunk.utf8))
    }

    /// Runs a process to its end; its CPU seconds (user + system) and peak resident MiB (its
    /// own VmHWM, read while it runs: the exit status's maxrss would count the memory of the
    /// parent it was spawned from).
    static func measure(_ path: String, _ arguments: [String], output: String) throws -> (
        status: Int32, cpu: Double, wall: Double, peakMiB: Double
    ) {
        let start = Date()
        let child = try ChildProcess(path, arguments, outputPath: output)
        var peak = 0.0
        var polls = 0
        // The exit is looked for every millisecond, the memory every 20: polled every 20 ms,
        // a run's wall time came out up to 20 ms long (4 % of a half-second replay).
        while child.isRunning {
            if polls % 20 == 0 {
                let now = residentMegabytes(child.pid)
                if now.isFinite { peak = max(peak, now) }
            }
            polls += 1
            usleep(1_000)
        }
        let status = child.wait()
        return (status, child.cpuSeconds, Date().timeIntervalSince(start), peak)
    }
}
