// parkbench: parkd's ingest cost beside mosquitto_sub, consuming the same feed from the
// same broker in the same run, so the ratio holds on a shared, noisy machine.
//
//   make release && .build/release/parkbench [ingest|core|publish|all] [--messages N] [--qos 0|1] [--sensors N]
import BrokerHarness
import Foundation
import Logging
import MQTTClient
import ParkSimulation
import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

struct Options {
    var mode = "all"
    var messages = 200_000
    var qos: QoS = .atLeastOnce
    var sensors = 1000
    /// Another parkd binary measured beside this one in the same run (e.g. an older commit).
    var baseline: String?
    /// Also measure parkd with an uplink (outbox and sender) to a second broker, same run.
    var uplink = false
    /// Where `feeds` writes.
    var out: String?
    /// `ingest`: parkd saves its state this often (e.g. `5s`), so that saves happen while
    /// the feed runs and the peak RSS includes them (parkd's default is 60 s).
    var snapshotInterval: String?
    /// Rounds of each CPU row (`all`: the 1 000-sensor rows; `ingest`: its row), parkd and the
    /// baseline alternating; the median ratio is the figure (single runs move by ±0.1 here).
    var rounds: Int?

    static let modes = [
        "all", "ingest", "replay", "core", "publish", "memory", "province", "sparkplug", "scrape", "feeds", "tick",
    ]

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        if let first = rest.first, !first.hasPrefix("--") {
            guard Self.modes.contains(first) else {
                throw HarnessError("unknown mode \(first); use \(Self.modes.joined(separator: ", "))")
            }
            mode = first
            rest = rest.dropFirst()
        }
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw HarnessError("\(flag) needs a value") }
            switch flag {
            case "--messages": messages = Int(value) ?? messages
            case "--qos": qos = value == "0" ? .atMostOnce : .atLeastOnce
            case "--sensors": sensors = Int(value) ?? sensors
            case "--baseline": baseline = value
            case "--uplink": uplink = value != "0"
            case "--out": out = value
            case "--snapshot-interval": snapshotInterval = value
            case "--rounds":
                guard let n = Int(value), (1...15).contains(n) else { throw HarnessError("--rounds takes 1 to 15") }
                rounds = n
            default:
                throw HarnessError(
                    "unknown option \(flag); use --messages N, --qos 0|1, --sensors N, --baseline PATH, --uplink 1, --snapshot-interval 5s, --rounds N"
                )
            }
        }
    }
}

/// User plus system CPU seconds a live process has used so far, from /proc.
func cpuSeconds(_ pid: pid_t) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return .nan }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, so utime (14) and stime (15) sit at 11 and 12.
    let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The process' peak resident memory (`VmHWM:`), or another field of /proc/PID/status, in MiB.
func residentMegabytes(_ pid: pid_t, field: String = "VmHWM:") -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return .nan }
    return kb / 1024
}

/// Whether `pid` has exited (a zombie not yet reaped counts: its CPU times are final).
func exited(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
}

func lineCount(_ path: String) -> Int {
    guard let data = FileManager.default.contents(atPath: path) else { return 0 }
    return data.withUnsafeBytes { $0.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
}

func summaryMessages(_ path: String) -> Int {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
    return text.split(separator: "\n").reduce(0) { total, line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return total
        }
        return total + (object["messages"] as? Int ?? 0)
    }
}

func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

func main() throws {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .error
        return handler
    }
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    switch options.mode {
    case "memory": CoreBenchmark.memory(seriesCount: options.sensors)
    case "tick": try TickBenchmark.run(series: options.sensors)
    case "core": CoreBenchmark.run(messages: 2_000_000, sensors: options.sensors)
    case "sparkplug": CoreBenchmark.sparkplug(messages: 1_000_000)
    case "scrape":
        try ScrapeBenchmark.run(parkd: try BenchSetup.binary("parkd"))
        if let baseline = options.baseline { try ScrapeBenchmark.run(parkd: baseline, label: "baseline") }
    case "publish": try PublishBenchmark.run(messages: options.messages, qos: Int(options.qos.rawValue))
    case "ingest":
        try ingestRounds(
            parkd: try BenchSetup.binary("parkd"), baseline: options.baseline, sensors: options.sensors,
            qos: options.qos, messages: options.messages, rounds: options.rounds ?? 1,
            snapshotInterval: options.snapshotInterval)
        if options.uplink {
            print(
                try ingestBenchmark(
                    parkd: try BenchSetup.binary("parkd"), sensors: options.sensors, qos: options.qos,
                    messages: options.messages, packs: true, label: "uplink", uplink: true
                ).text)
        }
    case "replay": try replayTable(options)
    case "feeds": try writeFeeds(options)
    case "province": try ProvinceBenchmark.run(messages: options.messages)
    default: try issueTable(options)
    }
}

/// Everything `make bench` prints: each figure beside its baseline from the same run.
func issueTable(_ options: Options) throws {
    let parkd = try BenchSetup.binary("parkd")
    let commit = ProcessInfo.processInfo.environment["BENCH_COMMIT"] ?? "(BENCH_COMMIT not set)"
    print("parkbench at commit \(commit): packs \(BenchSetup.packs.joined(separator: ", ")), windows 1m 15m 1h 8h 24h")
    print("")
    print("CPU per message, parkd beside mosquitto_sub on the same broker and feed (user+sys):")
    // The 1 000-sensor rows in rounds (3 by default), the median ratio their figure: a single
    // run's ratio moves by ±0.1 on this 2-core machine. The 100 000-sensor rows run once.
    // Beside every row: a baseline from before issue 11 listed every series in every
    // 1-second summary line, which at 100 000 sensors measured its summaries; pass such an
    // old baseline with `ingest --sensors 1000` only.
    for (sensors, qos, messages) in [
        (1000, QoS.atMostOnce, 200_000), (1000, .atLeastOnce, 100_000), (100_000, .atMostOnce, 200_000),
        (100_000, .atLeastOnce, 200_000),
    ] {
        try ingestRounds(
            parkd: parkd, baseline: options.baseline, sensors: sensors, qos: qos, messages: messages,
            rounds: sensors <= 1000 ? options.rounds ?? 3 : 1)
    }
    print("")
    try replayTable(options)
    print("")
    try ScrapeBenchmark.run(parkd: parkd)
    if let baseline = options.baseline { try ScrapeBenchmark.run(parkd: baseline, label: "baseline") }
    print("")
    try ProvinceBenchmark.run(messages: 50_000)
}

/// The replay benchmark's feeds and configurations in `--out DIR` (with `--sensors N`, only a
/// feed of N series), kept for profiling
/// (`perf record parkd replay DIR/feed-1k.jsonl --config DIR/packs.yaml --out DIR/w1`).
func writeFeeds(_ options: Options) throws {
    guard let folder = options.out else { throw HarnessError("feeds needs --out DIR") }
    let work = URL(fileURLWithPath: folder)
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    // `--sensors N`: only a feed of N series, three readings each (feed-N.jsonl).
    if options.sensors != 1000 {
        let n = options.sensors
        _ = try ReplayBenchmark.writeFeed(work, ("feed-\(n).jsonl", 3 * n, n, ReplayBenchmark.wide.seed))
        return
    }
    _ = try ReplayBenchmark.writeFeed(work, ReplayBenchmark.narrow)
    _ = try ReplayBenchmark.writeFeed(work, ReplayBenchmark.wide)
    _ = try ReplayBenchmark.config(work, name: "packs", packs: true, maxSeries: 2_000_000)
    _ = try ReplayBenchmark.config(work, name: "plain", packs: false, maxSeries: 2_000_000)
    print("feeds and configurations in \(folder)")
}

func replayTable(_ options: Options) throws {
    let parkd = try BenchSetup.binary("parkd")
    let work = try Scratch.makeDirectory(prefix: "replay-bench")
    defer { try? FileManager.default.removeItem(at: work) }
    let feed = try ReplayBenchmark.writeFeed(work, ReplayBenchmark.narrow)
    let readings = ReplayBenchmark.narrow.readings
    let packs = try ReplayBenchmark.config(work, name: "packs", packs: true, maxSeries: 200_000)
    let plain = try ReplayBenchmark.config(work, name: "plain", packs: false, maxSeries: 200_000)
    let basePacks = try options.baseline.map {
        try ReplayBenchmark.config(work, name: "base-packs", packs: true, maxSeries: 200_000, parkd: $0)
    }
    print("parkd replay, \(readings) readings from 1 000 sensors (wall time; CPU user+sys):")
    func show(_ label: String, _ run: ReplayBenchmark.Run) {
        print(
            String(
                format: "  %-40@ %9.0f readings/s  (%.2fs, CPU %.2fs, peak RSS %.0f MiB)", label as NSString, run.rate,
                run.seconds, run.cpu, run.peakMiB))
    }
    // The one-worker rows are the median of five runs, each run listed: a single half-second
    // run moved by a tenth from minute to minute on this 2-core machine, and a slow spell of a
    // few seconds moved a median of three runs (two runs at 1.68 and 1.88 M beside one at 2.06 M).
    let runCount = 5
    func median(_ runs: [ReplayBenchmark.Run]) -> ReplayBenchmark.Run {
        runs.sorted { $0.seconds < $1.seconds }[runs.count / 2]
    }
    func list(_ runs: [ReplayBenchmark.Run]) -> String {
        runs.map { String(format: "%.0f", $0.rate) }.joined(separator: ", ")
    }
    // With a baseline, its runs alternate with parkd's: a slow spell of this machine falls on
    // both, not on one side's runs.
    var ones: [ReplayBenchmark.Run] = []
    var olds: [(run: ReplayBenchmark.Run, label: String)] = []
    // A failed baseline run stops its runs, not parkd's: its error is thrown where its row goes.
    var baselineFailure: (any Error)?
    for _ in 0..<runCount {
        ones.append(
            try ReplayBenchmark.replay(
                parkd: parkd, feed: feed, config: packs, out: work.appendingPathComponent("w1").path, workers: 1,
                readings: readings))
        if let baseline = options.baseline, baselineFailure == nil {
            do {
                olds.append(
                    try ReplayBenchmark.baseline(
                        parkd: baseline, feed: feed, config: basePacks ?? packs,
                        out: work.appendingPathComponent("b1").path, readings: readings))
            } catch {
                baselineFailure = error
            }
        }
    }
    let one = median(ones)
    show("packs, 1 worker (median of \(runCount))", one)
    print("    the \(runCount) runs: \(list(ones)) readings/s")
    let two = try ReplayBenchmark.replay(
        parkd: parkd, feed: feed, config: packs, out: work.appendingPathComponent("w2").path, workers: 2,
        readings: readings)
    show("packs, 2 workers", two)
    let same =
        FileManager.default.contentsEqual(
            atPath: work.appendingPathComponent("w1/summaries.jsonl").path,
            andPath: work.appendingPathComponent("w2/summaries.jsonl").path)
        && FileManager.default.contentsEqual(
            atPath: work.appendingPathComponent("w1/alerts.jsonl").path,
            andPath: work.appendingPathComponent("w2/alerts.jsonl").path)
    print(
        String(
            format: "  speed-up on 2 workers: %.2f×; outputs byte for byte identical: %@", two.rate / one.rate,
            same ? "yes" : "NO"))
    show(
        "no rules, 1 worker",
        try ReplayBenchmark.replay(
            parkd: parkd, feed: feed, config: plain, out: work.appendingPathComponent("p1").path, workers: 1,
            readings: readings))
    if let baselineFailure { throw baselineFailure }
    if !olds.isEmpty {
        let runs = olds.map(\.run)
        // One label unless a run fell back to the binary's default workers (then both show).
        show(Set(olds.map(\.label)).sorted().joined(separator: " / ") + " (median of \(runs.count))", median(runs))
        print("    the \(runs.count) runs: \(list(runs)) readings/s")
    }
    print("")
    let wide = try ReplayBenchmark.writeFeed(work, ReplayBenchmark.wide)
    print("peak resident memory of parkd replay holding 100 000 series:")
    let memory = try ReplayBenchmark.replay(
        parkd: parkd, feed: wide, config: packs, out: work.appendingPathComponent("m1").path, workers: 1,
        readings: 300_000)
    print(
        String(
            format: "  packs, default windows + 8h        %6.0f MiB (%.1f KiB per series)", memory.peakMiB,
            memory.peakMiB * 1024 / 100_000))
    let wideTwo = try ReplayBenchmark.replay(
        parkd: parkd, feed: wide, config: packs, out: work.appendingPathComponent("m4").path, workers: 2,
        readings: 300_000)
    print(
        String(
            format: "  (the same feed, 1 000 parks: %.0f readings/s on 1 worker, %.0f on 2: %.2f×)", memory.rate,
            wideTwo.rate, wideTwo.rate / memory.rate))
    let memoryPlain = try ReplayBenchmark.replay(
        parkd: parkd, feed: wide, config: plain, out: work.appendingPathComponent("m2").path, workers: 1,
        readings: 300_000)
    print(String(format: "  no rules                           %6.0f MiB", memoryPlain.peakMiB))
    if let baseline = options.baseline {
        let old = try ReplayBenchmark.baseline(
            parkd: baseline, feed: wide, config: basePacks ?? packs, out: work.appendingPathComponent("m3").path,
            readings: 300_000
        ).run
        print(String(format: "  baseline, packs                    %6.0f MiB", old.peakMiB))
    }
    print("")
    try summarySize(parkd: parkd, work: work, baseline: options.baseline)
}

/// The binh-duong scenario (3 parks, 1 413 sensors) recorded for 10 simulated minutes and
/// replayed with Deploy/config/simulator.yaml: the size of a summary line.
func summarySize(parkd: String, work: URL, baseline: String?) throws {
    let parksim = try BenchSetup.binary("parksim")
    let rules = try BenchSetup.rulesDirectory()
    let root = URL(fileURLWithPath: rules).deletingLastPathComponent().deletingLastPathComponent()
    let scenario = root.appendingPathComponent("Simulators/scenarios/binh-duong.yaml").path
    let config = root.appendingPathComponent("Deploy/config/simulator.yaml").path
    let feed = work.appendingPathComponent("binh-duong.jsonl").path
    let recorded = try BenchSetup.measure(
        parksim, ["record", "--scenario", scenario, "--out", feed, "--duration", "10m"],
        output: work.appendingPathComponent("record.log").path)
    guard recorded.status == 0 else { throw HarnessError("parksim record exited \(recorded.status)") }
    print("summary line of the binh-duong scenario (3 parks, 1 413 sensors, 10 simulated minutes):")
    for (label, binary) in [("parkd", parkd)] + (baseline.map { [("baseline", $0)] } ?? []) {
        let out = work.appendingPathComponent("bd-\(label)").path
        // Each binary with the configuration (and packs) of its own tree.
        let own =
            URL(fileURLWithPath: try BenchSetup.rulesDirectory(of: binary)).deletingLastPathComponent()
            .appendingPathComponent("config/simulator.yaml").path
        let status = try BenchSetup.measure(
            binary, ["replay", feed, "--config", label == "parkd" ? config : own, "--out", out], output: out + ".log"
        ).status
        guard status == 0, let size = ReplayBenchmark.summaryLineSize(out + "/summaries.jsonl") else {
            throw HarnessError("\(label) replay of binh-duong failed (\(status))")
        }
        print(
            String(
                format: "  %-9@ %8.0f bytes per line, %.0f parks per line: %.0f bytes per park", label as NSString,
                size.bytes, size.parks, size.bytes / max(1, size.parks)))
    }
}

/// One CPU row `rounds` times, parkd then the baseline in each round; with more than one
/// round, the median ratio of each (every round's line is printed too).
func ingestRounds(
    parkd: String, baseline: String?, sensors: Int, qos: QoS, messages: Int, rounds: Int,
    snapshotInterval: String? = nil
) throws {
    var ours: [Double] = []
    var theirs: [Double] = []
    for round in 0..<rounds {
        func runOurs() throws {
            let row = try ingestBenchmark(
                parkd: parkd, sensors: sensors, qos: qos, messages: messages, packs: true,
                snapshotInterval: snapshotInterval)
            print(row.text)
            ours.append(row.ratio)
        }
        func runBaseline(_ baseline: String) throws {
            let old = try ingestBenchmark(
                parkd: baseline, sensors: sensors, qos: qos, messages: messages, packs: true, label: "baseline",
                snapshotInterval: snapshotInterval)
            print(old.text)
            theirs.append(old.ratio)
        }
        // Which goes first alternates, so that neither always runs on a machine the other warmed.
        if let baseline, round % 2 == 1 {
            try runBaseline(baseline)
            try runOurs()
        } else {
            try runOurs()
            if let baseline { try runBaseline(baseline) }
        }
    }
    guard rounds > 1 else { return }
    func median(_ values: [Double]) -> String {
        // A ratio that is not a number (a /proc read failed) has no place in the order.
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return "n/a" }
        let middle =
            sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return String(format: "%.2f×", middle)
    }
    let label = "\(sensors) sensors QoS \(qos.rawValue)"
    print(
        "  median of \(rounds) rounds, \(label): parkd \(median(ours))"
            + (theirs.isEmpty ? "" : ", baseline \(median(theirs))")
            + " (rounds: \(ours.map { String(format: "%.2f", $0) }.joined(separator: ", "))"
            + (theirs.isEmpty ? "" : "; baseline \(theirs.map { String(format: "%.2f", $0) }.joined(separator: ", "))")
            + ")")
}

struct IngestRow {
    var text: String
    var ratio: Double
}

func ingestBenchmark(
    parkd parkdPath: String, sensors: Int, qos: QoS, messages: Int, packs: Bool, label: String = "parkd",
    uplink: Bool = false, snapshotInterval: String? = nil
) throws -> IngestRow {
    let broker = try Broker()
    // The uplink's province: a second broker that acknowledges what the outbox sends.
    let upstream = uplink ? try Broker() : nil
    let uplinkSection =
        upstream.map {
            "\nuplink: {broker: {url: \"\($0.url)\"}, gateway: bench, shard: s1, max_items: 10000000, rate: 1000000}"
        } ?? ""
    let work = try Scratch.makeDirectory(prefix: "bench")
    defer { try? FileManager.default.removeItem(at: work) }
    let config = work.appendingPathComponent("parkd.yaml").path
    try """
    broker: {url: "\(broker.url)", client_id: parkd-bench, clean_session: true}
    subscriptions: [{filter: "parks/#", qos: \(qos.rawValue)}]
    summaries: {path: summaries.jsonl, interval: 1s}\(snapshotInterval.map { "\nsnapshot_interval: \($0)" } ?? "")
    \(try BenchSetup.common(packs: packs, maxSeries: max(200_000, sensors * 2), parkd: parkdPath))\(uplinkSection)
    """.write(toFile: config, atomically: true, encoding: .utf8)
    let parkd = try ChildProcess(
        parkdPath, ["run", "--config", config], outputPath: work.appendingPathComponent("parkd.log").path)
    let subOutput = work.appendingPathComponent("sub.out").path
    let sub = try ChildProcess(
        try Command.find("mosquitto_sub"),
        ["-h", "127.0.0.1", "-p", "\(broker.port)", "-i", "bench-sub", "-q", "\(qos.rawValue)", "-t", "parks/#"],
        outputPath: subOutput)
    let logged = { (id: String) in
        (try? String(contentsOf: broker.logFile, encoding: .utf8))?.contains("as \(id) ") ?? false
    }
    guard waitUntil(timeout: 15, { logged("parkd-bench") && logged("bench-sub") }) else {
        throw HarnessError("consumers did not connect")
    }
    usleep(500_000)  // both SUBACKs

    // Stamped two hours before now, 10 s apart per sensor: current for parkd's time checks.
    // The first message of each sensor opens its series: a warm-up both consumers receive
    // before the measured feed, so the figure is the steady cost per message.
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let all = BenchSetup.messages(count: sensors + messages, sensors: sensors, seed: 1, start: now - 7_200_000)
    let warmUp = all.prefix(sensors)
    let feed = all.dropFirst(sensors)
    let publisher = try MQTTPublisher(
        configuration: .init(
            url: try BrokerURL(parsing: broker.url), clientID: "bench-pub", cleanSession: true, maxInflight: 100,
            maxQueuedPublishes: 2000))
    try publisher.connect(timeout: 10)
    let summaries = work.appendingPathComponent("summaries.jsonl").path
    for m in warmUp { try publisher.publish(m.topic, payload: m.payload, qos: qos) }
    try publisher.flush(timeout: 120)
    _ = waitUntil(timeout: 120) { lineCount(subOutput) >= sensors && summaryMessages(summaries) >= sensors }
    let warm = (lineCount(subOutput), summaryMessages(summaries))
    // What the warm-up leaves to do after its messages are counted (the new series' first
    // history rows and summary outputs) must not fall in the measured window: a build that
    // takes the warm-up faster would otherwise be charged for it there. Waits until parkd
    // has used under a tenth of a core for a second (an idle parkd with 100 000 series and
    // 1 s summaries uses about a twentieth), 30 s at most.
    for _ in 0..<30 {
        let before = cpuSeconds(parkd.pid)
        usleep(1_000_000)
        if cpuSeconds(parkd.pid) - before < 0.1 { break }
    }

    let parkdBefore = cpuSeconds(parkd.pid)
    let subBefore = cpuSeconds(sub.pid)
    for m in feed { try publisher.publish(m.topic, payload: m.payload, qos: qos) }
    try publisher.flush(timeout: 120)

    var subDone = false
    var parkdDone = false
    var subCPU = 0.0
    var parkdCPU = 0.0
    // Done when each has counted every message, or when its count stopped moving (QoS 0 may drop).
    var lastCounts = (-1, -1)
    var still = 0
    _ = waitUntil(timeout: 180) {
        let counts = (lineCount(subOutput) - warm.0, summaryMessages(summaries) - warm.1)
        if !subDone && counts.0 >= messages {
            subDone = true
            subCPU = cpuSeconds(sub.pid) - subBefore
        }
        if !parkdDone && counts.1 >= messages {
            parkdDone = true
            parkdCPU = cpuSeconds(parkd.pid) - parkdBefore
        }
        still = counts == lastCounts ? still + 1 : 0
        lastCounts = counts
        return (subDone && parkdDone) || still > 150
    }
    if !subDone { subCPU = cpuSeconds(sub.pid) - subBefore }
    if !parkdDone { parkdCPU = cpuSeconds(parkd.pid) - parkdBefore }
    let parkdRSS = residentMegabytes(parkd.pid)
    // The stop saves every state file, the window snapshot the biggest (every snapshot_interval
    // too, while running): its CPU and the memory it takes, watched until parkd has exited.
    let cpuAtStop = cpuSeconds(parkd.pid)
    var stopCPU = cpuAtStop
    // Resident memory sampled while it stops (VmHWM would be the ingest's peak as well).
    var stopRSS = residentMegabytes(parkd.pid, field: "VmRSS:")
    parkd.signal(SIGTERM)
    let stopDeadline = Date().addingTimeInterval(120)
    while Date() < stopDeadline, !exited(parkd.pid) {
        let (cpu, rss) = (cpuSeconds(parkd.pid), residentMegabytes(parkd.pid, field: "VmRSS:"))
        if !cpu.isNaN { stopCPU = cpu }
        if !rss.isNaN { stopRSS = max(stopRSS, rss) }
        usleep(10_000)
    }
    if !cpuSeconds(parkd.pid).isNaN { stopCPU = cpuSeconds(parkd.pid) }  // a zombie's times are final
    let parkdStatus = parkd.wait(timeout: 30)
    if parkdStatus == nil {  // the restart below must not share the state folder with it
        parkd.signal(SIGKILL)
        _ = parkd.wait()
    }
    let snapshotBytes =
        (try? FileManager.default.attributesOfItem(atPath: work.appendingPathComponent("state/windows.snapshot").path)[
            .size] as? Int) ?? 0
    // A restart on those state files: the time and memory the restore takes (logged at notice;
    // the broker is left alone: the restart's client id is its own, its subscription none).
    let restartConfig = work.appendingPathComponent("restart.yaml").path
    let restartLog = work.appendingPathComponent("restart.log").path
    try (try String(contentsOfFile: config, encoding: .utf8))
        .replacingOccurrences(of: "log: {level: warning}", with: "log: {level: notice}")
        .replacingOccurrences(of: "client_id: parkd-bench", with: "client_id: parkd-restart")
        .replacingOccurrences(of: "filter: \"parks/#\"", with: "filter: \"restart/none\"")
        .write(toFile: restartConfig, atomically: true, encoding: .utf8)
    let restartStart = Date()
    let restart = try ChildProcess(parkdPath, ["run", "--config", restartConfig], outputPath: restartLog)
    let restored = waitUntil(timeout: 120) {
        let log = (try? String(contentsOfFile: restartLog, encoding: .utf8)) ?? ""
        return log.contains("restored the windows of") && (!packs || log.contains("restored the open compliance"))
    }
    let restoreWall = Date().timeIntervalSince(restartStart)
    let (restoreCPU, restoreRSS) = (cpuSeconds(restart.pid), residentMegabytes(restart.pid))
    restart.signal(SIGKILL)
    _ = restart.wait()
    sub.signal(SIGTERM)
    sub.wait()
    publisher.disconnect()

    let n = Double(messages)
    let subCount = lineCount(subOutput) - warm.0
    let parkdCount = summaryMessages(summaries) - warm.1
    let ratio = parkdCPU / subCPU
    let exitNote = parkdStatus == 0 ? "" : " (parkd exit \(parkdStatus.map(String.init) ?? "none"))"
    let text = String(
        format:
            "  %-8@ %6d sensors QoS %d %7d msgs: mosquitto_sub %5.2f µs/msg (%d received), %@ %5.2f µs/msg (%d received, peak RSS %.0f MiB): %.2f×%@\n  %-8@ %6d sensors stop: window snapshot %.1f MiB, %.2f s CPU, RSS during it up to %.0f MiB (sampled); restart: restored in %.1f s (%.1f s CPU), peak RSS %.0f MiB%@",
        label as NSString, sensors, qos.rawValue, messages, subCPU / n * 1e6, subCount, label as NSString,
        parkdCPU / n * 1e6, parkdCount, parkdRSS, ratio,
        exitNote as NSString, label as NSString, sensors, Double(snapshotBytes) / 1_048_576, stopCPU - cpuAtStop,
        stopRSS, restoreWall, restoreCPU, restoreRSS, (restored ? "" : " (not restored in 120 s)") as NSString)
    return IngestRow(text: text, ratio: ratio)
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("parkbench: \(error)\n".utf8))
    exit(1)
}
