// parkbench: parkd's ingest cost beside mosquitto_sub, consuming the same feed from the
// same broker in the same run, so the ratio holds on a shared, noisy machine.
//
//   swift run -c release parkbench [ingest|core|publish|all] [--messages N] [--qos 0|1] [--sensors N]
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

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        if let first = rest.first, !first.hasPrefix("--") {
            guard ["ingest", "core", "publish", "all", "memory"].contains(first) else {
                throw HarnessError("unknown mode \(first); use ingest, core, publish or all")
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
            default: throw HarnessError("unknown option \(flag); use --messages N, --qos 0|1, --sensors N")
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

func residentMegabytes(_ pid: pid_t) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return .nan }
    return kb / 1024
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
    if options.mode == "memory" { return CoreBenchmark.memory(seriesCount: options.sensors) }
    if options.mode == "core" || options.mode == "all" {
        CoreBenchmark.run(
            messages: 2_000_000, sensors: options.sensors, memory: options.mode == "core" || options.mode == "all")
    }
    if options.mode == "ingest" || options.mode == "all" { try ingestBenchmark(options) }
    if options.mode == "publish" || options.mode == "all" {
        try PublishBenchmark.run(messages: options.messages, qos: Int(options.qos.rawValue))
    }
}

func ingestBenchmark(_ options: Options) throws {
    let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent()
    let parkdPath = binDirectory.appendingPathComponent("parkd").path
    guard FileManager.default.isExecutableFile(atPath: parkdPath) else {
        throw HarnessError("parkd is not built next to parkbench (\(parkdPath)); run swift build -c release")
    }
    let broker = try Broker()
    let work = try Scratch.makeDirectory(prefix: "bench")
    defer { try? FileManager.default.removeItem(at: work) }
    let qos = options.qos.rawValue
    print(
        "parkbench: \(options.messages) JSON readings from \(options.sensors) sensors at QoS \(qos), broker 127.0.0.1:\(broker.port)"
    )

    let config = work.appendingPathComponent("parkd.yaml").path
    try """
    broker: {url: "\(broker.url)", client_id: parkd-bench, clean_session: true}
    subscriptions: [{filter: "parks/#", qos: \(qos)}]
    summaries: {path: summaries.jsonl, interval: 1s}
    log: {level: warning}
    """.write(toFile: config, atomically: true, encoding: .utf8)
    let parkd = try ChildProcess(
        parkdPath, ["run", "--config", config], outputPath: work.appendingPathComponent("parkd.log").path)
    let subOutput = work.appendingPathComponent("sub.out").path
    let sub = try ChildProcess(
        try Command.find("mosquitto_sub"),
        ["-h", "127.0.0.1", "-p", "\(broker.port)", "-i", "bench-sub", "-q", "\(qos)", "-t", "parks/#"],
        outputPath: subOutput)
    let logged = { (id: String) in
        (try? String(contentsOf: broker.logFile, encoding: .utf8))?.contains("as \(id) ") ?? false
    }
    guard waitUntil(timeout: 15, { logged("parkd-bench") && logged("bench-sub") }) else {
        throw HarnessError("consumers did not connect")
    }
    usleep(500_000)  // both SUBACKs

    var generator = TrafficGenerator(
        parks: max(1, options.sensors / 100), sensorsPerPark: min(100, options.sensors), seed: 1)
    let base = EventTime(milliseconds: 1_795_400_000_000)
    let feed = (0..<options.messages).map { i -> (String, [UInt8]) in
        let m = generator.next(at: EventTime(milliseconds: base.milliseconds + Int64(i)))
        return (m.topic, Array(m.payload.utf8))
    }
    let publisher = try MQTTPublisher(
        configuration: .init(
            url: try BrokerURL(parsing: broker.url), clientID: "bench-pub", cleanSession: true, maxInflight: 100,
            maxQueuedPublishes: 2000))
    try publisher.connect(timeout: 10)

    let parkdBefore = cpuSeconds(parkd.pid)
    let subBefore = cpuSeconds(sub.pid)
    let start = Date()
    for (topic, payload) in feed { try publisher.publish(topic, payload: payload, qos: options.qos) }
    try publisher.flush(timeout: 120)
    let published = Date().timeIntervalSince(start)

    var subDone = 0.0
    var parkdDone = 0.0
    var subCPU = 0.0
    var parkdCPU = 0.0
    let summaries = work.appendingPathComponent("summaries.jsonl").path
    let finished = waitUntil(timeout: 120) {
        if subDone == 0 && lineCount(subOutput) >= options.messages {
            subDone = Date().timeIntervalSince(start)
            subCPU = cpuSeconds(sub.pid) - subBefore
        }
        if parkdDone == 0 && summaryMessages(summaries) >= options.messages {
            parkdDone = Date().timeIntervalSince(start)
            parkdCPU = cpuSeconds(parkd.pid) - parkdBefore
        }
        return subDone > 0 && parkdDone > 0
    }
    let parkdRSS = residentMegabytes(parkd.pid)
    let subRSS = residentMegabytes(sub.pid)
    parkd.signal(SIGTERM)
    let parkdStatus = parkd.wait(timeout: 20)
    sub.signal(SIGTERM)
    sub.wait()
    publisher.disconnect()

    let n = Double(options.messages)
    let subCount = lineCount(subOutput)
    let parkdCount = summaryMessages(summaries)
    print(String(format: "  publisher       %8.0f msg/s into the broker (%.2fs)", n / published, published))
    print(
        String(
            format: "  mosquitto_sub   received %d/%d, done after %.2fs, CPU %.3fs = %.2f µs/msg, peak RSS %.1f MiB",
            subCount, options.messages, subDone, subCPU, subCPU / n * 1e6, subRSS))
    print(
        String(
            format: "  parkd           received %d/%d, done after %.2fs, CPU %.3fs = %.2f µs/msg, peak RSS %.1f MiB",
            parkdCount, options.messages, parkdDone, parkdCPU, parkdCPU / n * 1e6, parkdRSS))
    print(
        String(
            format:
                "  ratio           parkd / mosquitto_sub CPU per message = %.2f×; parkd's count seen %+.2fs after mosquitto_sub's (read from its 1 s summaries)",
            parkdCPU / subCPU, parkdDone - subDone))
    print("  parkd exit status on SIGTERM: \(parkdStatus.map(String.init) ?? "did not exit")")
    if !finished || parkdStatus != 0 { exit(1) }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("parkbench: \(error)\n".utf8))
    exit(1)
}
