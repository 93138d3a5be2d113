import BrokerHarness
import Foundation
import MQTTClient
import TelemetryCore
import Testing

@Suite("parksim against a real broker")
struct ParksimTests {
    @Test("parksim run at QoS 1: every sensor's sequence numbers arrive complete, none lost")
    func noLoss() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "parksim")
        defer { try? FileManager.default.removeItem(at: directory) }
        let scenario = directory.appendingPathComponent("scenario.yaml").path
        try """
        name: roundtrip
        parks:
          - id: bau-bang
            zones: [zone-a, zone-b]
            sensors:
              - {kind: active_power, count: 20, interval: 5s}
              - {kind: pm25, count: 10, interval: 10s}
        """.write(toFile: scenario, atomically: true, encoding: .utf8)

        let received = Received()
        let subscriber = try MQTTClient(
            configuration: .init(
                url: try BrokerURL(parsing: broker.url), clientID: "collector", subscriptions: [.init("parks/#")]),
            onMessage: { received.add($0) })
        subscriber.start()
        try subscriber.waitUntilConnected(timeout: 10)
        Thread.sleep(forTimeInterval: 0.3)

        let output = directory.appendingPathComponent("parksim.out").path
        let parksim = try ChildProcess(
            try BuiltProduct.path("parksim"),
            ["run", "--scenario", scenario, "--url", broker.url, "--qos", "1", "--speed", "600", "--duration", "10m"],
            outputPath: output)
        #expect(parksim.wait(timeout: 60) == 0)
        let report = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // 10 simulated minutes: 20 meters every 5 s and 10 PM2.5 sensors every 10 s.
        let expected = 20 * 120 + 10 * 60
        #expect(report.contains("sent \(expected) messages"), "\(report)")
        #expect(received.wait(for: expected))
        let decoder = JSONReadingDecoder()
        var seqs: [String: [Int64]] = [:]
        for message in received.all {
            let reading = try decoder.decode(message.payload, arrival: EventTime(milliseconds: 0))
            seqs[message.topic, default: []].append(try #require(reading.seq))
        }
        #expect(seqs.count == 30)
        for (topic, list) in seqs {
            #expect(list.sorted() == Array(1...Int64(list.count)), "\(topic)")
        }
    }
}

final class Received: @unchecked Sendable {
    private let condition = NSCondition()
    private var messages: [MQTTMessage] = []

    func add(_ message: MQTTMessage) {
        condition.lock()
        messages.append(message)
        condition.broadcast()
        condition.unlock()
    }

    var all: [MQTTMessage] {
        condition.lock()
        defer { condition.unlock() }
        return messages
    }

    func wait(for count: Int, timeout: Double = 20) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while messages.count < count {
            if !condition.wait(until: deadline) { return messages.count >= count }
        }
        return true
    }
}
