import ArgumentParser
import Foundation
import Logging
import MQTTClient
import ParkSimulation
import TelemetryCore

struct Parksim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parksim",
        abstract: "Simulated eco-industrial park sensor traffic: publish it, record it, replay it.",
        subcommands: [Run.self, Record.self, Replay.self, SparkplugCommand.self])
}

func bootstrapLogging() {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
    }
}

func writeLines(_ lines: [String], to handle: FileHandle?) {
    guard let handle, !lines.isEmpty else { return }
    handle.write(Data((lines.joined(separator: "\n") + "\n").utf8))
}

func openForWriting(_ path: String) throws -> FileHandle {
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path)
    else {
        throw ValidationError("cannot write '\(path)'")
    }
    return handle
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a scenario's traffic to a broker, in real time, faster, or at a set rate.",
        discussion: """
            With --scenario, simulated time starts now and runs at --speed (1 = real time), or
            messages go out at --rate per second whatever their simulated time. Without it, a
            quick generator publishes --count JSON readings at --rate.
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Scenario YAML (Simulators/scenarios/).") var scenario: String?
    @Option(help: "Simulated time runs this many times faster than real time.") var speed = 1.0
    @Option(help: "Messages per second, ignoring simulated time (0: follow --speed).") var rate = 0.0
    @Option(help: "Stop after this many messages.") var count: Int?
    @Option(help: "Stop after this much simulated time, e.g. 10m.") var duration: String?
    @Option(help: "Write the injected faults here (JSON Lines).") var groundTruth: String?
    @Option(
        help:
            "Start simulated time this long ago (e.g. 1d): a past day replayed fast at --speed or --rate, still recent enough for parkd."
    ) var startAgo: String?
    @Option(help: "Publish only this park's sensors (a scenario's park id; a gateway's share of a province).")
    var park: String?
    @Option(help: "Quick mode: parks.") var parks = 1
    @Option(help: "Quick mode: sensors per park.") var sensors = 14
    @Option(help: "Quick mode: break one message in N (0: never).") var malformedEvery = 0
    @Option(help: "Quick mode: random seed.") var seed: UInt64 = 1
    @Option(
        help:
            "Quick mode: every this long (e.g. 1m) every sensor takes a new name and the old ones fall silent, as DevEUI churn does."
    ) var churn: String?

    func validate() throws {
        guard speed > 0, rate >= 0 else { throw ValidationError("--speed must be positive and --rate not negative") }
        if scenario == nil && rate == 0 && count == nil { throw ValidationError("quick mode needs --rate or --count") }
        if let churn, (TimeText.seconds(churn) ?? 0) <= 0 {
            throw ValidationError("--churn: '\(churn)' is not a positive duration")
        }
        if let startAgo, TimeText.seconds(startAgo) == nil {
            throw ValidationError("--start-ago: '\(startAgo)' is not a duration")
        }
    }

    func run() throws {
        bootstrapLogging()
        let client = try broker.connect()
        var progress = Progress()
        let (qos, rate, speed, count) = (broker.qosLevel, self.rate, self.speed, self.count)
        func publish(_ topic: String, _ payload: [UInt8]) {
            do {
                try client.publish(topic, payload: payload, qos: qos)
                progress.sent += 1
            } catch {
                progress.errors += 1
                if !client.isConnected { try? client.connect(timeout: 5) }
            }
            progress.tick()
        }
        func wait(until date: Date) {
            let seconds = date.timeIntervalSinceNow
            if seconds > 0 { try? client.idle(for: seconds) }
        }
        if let scenarioPath = scenario {
            var loaded = try Scenario.load(path: scenarioPath)
            if let park {
                loaded.parks = loaded.parks.filter { $0.id == park }
                guard !loaded.parks.isEmpty else {
                    throw ValidationError("--park: '\(park)' is not in \(scenarioPath)")
                }
                loaded.faults.exceedance = loaded.faults.exceedance.filter { $0.park == park }
            }
            let ago = startAgo.flatMap(TimeText.seconds) ?? 0
            let now = EventTime(milliseconds: Int64((Date().timeIntervalSince1970 - ago) * 1000))
            var simulation = Simulation(scenario: loaded, start: now, runForever: duration == nil)
            let limit = try duration.map { text -> Int64 in
                guard let seconds = TimeText.seconds(text) else {
                    throw ValidationError("--duration: '\(text)' is not a duration")
                }
                return now.milliseconds + Int64(seconds * 1000)
            }
            let truth = try groundTruth.map(openForWriting)
            let wallStart = Date()
            while let message = simulation.next() {
                if let limit, message.arrival.milliseconds >= limit { break }
                if let count, progress.sent + progress.errors >= count { break }
                if rate > 0 {
                    wait(until: wallStart.addingTimeInterval(Double(progress.sent + progress.errors) / rate))
                } else {
                    wait(
                        until: wallStart.addingTimeInterval(
                            Double(message.arrival.milliseconds - now.milliseconds) / 1000 / speed))
                }
                publish(message.topic, message.payload)
                writeLines(simulation.takeFaults().map(\.line), to: truth)
            }
            writeLines(simulation.takeFaults().map(\.line), to: truth)
        } else {
            var generator = TrafficGenerator(
                parks: parks, sensorsPerPark: sensors, seed: seed, malformedEvery: malformedEvery)
            let total = count ?? Int.max
            let renameEvery = churn.flatMap(TimeText.seconds)
            var i = 0
            while i < total {
                if rate > 0 { wait(until: progress.started.addingTimeInterval(Double(i) / rate)) }
                let message = generator.next(at: EventTime(seconds: Date().timeIntervalSince1970))
                var topic = message.topic
                if let renameEvery {
                    // The sensor name is the topic's last level: a generation suffix renames it.
                    topic += "-g\(Int(Date().timeIntervalSince(progress.started) / renameEvery))"
                }
                publish(topic, Array(message.payload.utf8))
                i += 1
            }
        }
        try client.flush(timeout: 60)
        client.disconnect()
        progress.report("run")
        if progress.errors > 0 { throw ExitCode(1) }
    }
}

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a scenario's traffic to a feed file, as fast as it can be computed.")

    @Option(help: "Scenario YAML.") var scenario: String
    @Option(name: .shortAndLong, help: "The feed file to write (JSON Lines).") var out: String
    @Option(help: "Write the injected faults here (JSON Lines).") var groundTruth: String?
    @Option(help: "Simulated span, overriding the scenario's, e.g. 1d.") var duration: String?

    func run() throws {
        var loaded = try Scenario.load(path: scenario)
        if let duration {
            guard TimeText.seconds(duration) != nil else {
                throw ValidationError("--duration: '\(duration)' is not a duration")
            }
            loaded.duration = duration
        }
        var simulation = Simulation(scenario: loaded)
        let feed = try openForWriting(out)
        let truth = try groundTruth.map(openForWriting)
        let started = Date()
        var count = 0
        var buffer: [String] = []
        buffer.reserveCapacity(4096)
        while let message = simulation.next() {
            buffer.append(FeedRecord(time: message.arrival, topic: message.topic, payload: message.payload).line)
            count += 1
            if buffer.count == 4096 {
                writeLines(buffer, to: feed)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        writeLines(buffer, to: feed)
        let faults = simulation.takeFaults()
        writeLines(faults.map(\.line), to: truth)
        let elapsed = Date().timeIntervalSince(started)
        print(
            String(
                format:
                    "parksim record: %d messages from %d sensors over %@ simulated, %d faults, in %.2fs (%.0f msg/s)",
                count, simulation.sensorCount, loaded.duration as NSString, faults.count, elapsed,
                Double(count) / elapsed))
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish a recorded feed to a broker.")

    @Argument(help: "The feed file.") var feed: String
    @OptionGroup var broker: BrokerOptions
    @Option(help: "Replay this many times faster than recorded (0: as fast as possible).") var speed = 0.0

    func run() throws {
        bootstrapLogging()
        guard let file = fopen(feed, "r") else { throw ValidationError("cannot read '\(feed)'") }
        defer { fclose(file) }
        let client = try broker.connect()
        var progress = Progress()
        // Read the options once: ArgumentParser's property wrappers are slow on a hot path.
        let (speed, qos, feed) = (self.speed, broker.qosLevel, self.feed)
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        var number = 0
        var first: EventTime?
        var bad = 0
        while getline(&line, &capacity, file) >= 0, let line {
            number += 1
            var length = strlen(line)
            let start = UnsafeRawPointer(line).assumingMemoryBound(to: UInt8.self)
            while length > 0 && (start[length - 1] == 0x0A || start[length - 1] == 0x0D) { length -= 1 }
            if length == 0 { continue }
            let record: FeedRecord
            do {
                record = try FeedRecord.parse(UnsafeBufferPointer(start: start, count: length))
            } catch {
                bad += 1
                FileHandle.standardError.write(Data("\(feed):\(number): skipped: \(error)\n".utf8))
                continue
            }
            if speed > 0 {
                let origin = first ?? record.time
                first = origin
                let due = progress.started.addingTimeInterval(
                    Double(record.time.milliseconds - origin.milliseconds) / 1000 / speed)
                if due.timeIntervalSinceNow > 0 { try? client.idle(for: due.timeIntervalSinceNow) }
            }
            do {
                try client.publish(record.topic, payload: record.payload, qos: qos, retain: record.retain)
                progress.sent += 1
            } catch {
                progress.errors += 1
                if !client.isConnected { try? client.connect(timeout: 5) }
            }
            progress.tick()
        }
        free(line)
        try client.flush(timeout: 60)
        client.disconnect()
        progress.report("replay")
        if bad > 0 { print("parksim replay: \(bad) bad feed lines skipped") }
        if progress.errors > 0 { throw ExitCode(1) }
    }
}

Parksim.main()
