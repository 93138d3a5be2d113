import BrokerHarness
import Foundation
import ParkSimulation
import TelemetryCore

/// parksim's publish rate beside `mosquitto_pub -l`, the same number of messages of the same
/// size to the same broker in the same run.
enum PublishBenchmark {
    static func run(messages: Int, qos: Int) throws {
        let broker = try Broker()
        let work = try Scratch.makeDirectory(prefix: "publish-bench")
        defer { try? FileManager.default.removeItem(at: work) }
        var generator = TrafficGenerator(parks: 10, sensorsPerPark: 100, seed: 5)
        var feed: [String] = []
        var payloads: [String] = []
        feed.reserveCapacity(messages)
        let base = Int64(1_795_400_000_000)
        for i in 0..<messages {
            let time = EventTime(milliseconds: base + Int64(i))
            let m = generator.next(at: time)
            feed.append(FeedRecord(time: time, topic: m.topic, payload: Array(m.payload.utf8)).line)
            payloads.append(m.payload)
        }
        let feedPath = work.appendingPathComponent("feed.jsonl").path
        let payloadPath = work.appendingPathComponent("payloads.txt").path
        try (feed.joined(separator: "\n") + "\n").write(toFile: feedPath, atomically: true, encoding: .utf8)
        try (payloads.joined(separator: "\n") + "\n").write(toFile: payloadPath, atomically: true, encoding: .utf8)
        let parksim = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("parksim").path

        print(
            "parkbench publish: \(messages) JSON readings at QoS \(qos) to 127.0.0.1:\(broker.port), one process each")
        var round = 0
        var referenceDelivered = messages
        func time(_ name: String, _ executable: String, _ arguments: [String], input: String? = nil) throws -> Double {
            // A subscriber counts what actually reached the broker and came back out.
            round += 1
            let counted = work.appendingPathComponent("sub-\(round).out").path
            let subscriber = try ChildProcess(
                try Command.find("mosquitto_sub"),
                [
                    "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "\(qos)", "-t", "#", "-C", "\(messages)", "-i",
                    "count-\(round)",
                ],
                outputPath: counted)
            Thread.sleep(forTimeInterval: 0.5)
            let started = Date()
            let process = try ChildProcess(
                executable, arguments, outputPath: work.appendingPathComponent("\(name).out").path, inputPath: input)
            let status = process.wait()
            let seconds = Date().timeIntervalSince(started)
            guard status == 0 else { throw HarnessError("\(name) exited with \(status)") }
            if subscriber.wait(timeout: 30) == nil { subscriber.signal(SIGTERM) }
            let delivered = (try? String(contentsOfFile: counted, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if name.hasPrefix("mosquitto_pub") { referenceDelivered = min(referenceDelivered, delivered) }
            print(
                String(
                    format: "  %@ %6.2fs = %8.0f msg/s, CPU %.2fs, %d/%d delivered",
                    name.padding(toLength: 26, withPad: " ", startingAt: 0) as NSString, seconds,
                    Double(messages) / seconds,
                    process.cpuSeconds, delivered, messages))
            return seconds
        }
        let mosquittoPub = try Command.find("mosquitto_pub")
        let pubArguments = [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "\(qos)", "-t", "parks/bench/z/energy/active_power/m1",
            "-l",
        ]
        let replayArguments = ["replay", feedPath, "--url", broker.url, "--qos", "\(qos)"]
        // Alternating order, best of two each: the machine is shared and the first run warms the broker.
        var reference = Double.infinity
        var ours = Double.infinity
        reference = min(reference, try time("mosquitto_pub -l", mosquittoPub, pubArguments, input: payloadPath))
        ours = min(ours, try time("parksim replay (as fast)", parksim, replayArguments))
        ours = min(ours, try time("parksim replay (as fast)", parksim, replayArguments))
        reference = min(reference, try time("mosquitto_pub -l", mosquittoPub, pubArguments, input: payloadPath))
        print(
            String(
                format: "  ratio (best of two)          parksim publishes %.2f× mosquitto_pub's rate", reference / ours)
        )
    }
}
