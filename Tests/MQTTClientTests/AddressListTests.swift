import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// libmosquitto connects to one host; the client takes several and rotates through them.
@Suite("Broker address lists")
struct AddressListTests {
    @Test("a dead first address is skipped; when the broker in use stops, the client moves to the next and back")
    func rotate() throws {
        let first = try Broker()
        let second = try Broker()
        let dead = try FreePort.pick()  // nothing listens here
        let inbox = Inbox()
        let client = try MQTTClient.make(
            "mqtt://127.0.0.1:\(dead)", id: "rotating", subscriptions: [.init("parks/#", qos: .atLeastOnce)],
            inbox: inbox
        ) { configuration in
            configuration.fallbackURLs = [try! BrokerURL(parsing: first.url), try! BrokerURL(parsing: second.url)]
        }
        defer { client.stop() }
        try client.waitUntilConnected(timeout: 10)
        #expect(inbox.wait { _, events in events.subscribedCount >= 1 })
        func deliver(through broker: Broker, _ text: String) throws -> Bool {
            let publisher = try MQTTClient.make(broker.url, id: "pub-\(UUID().uuidString.prefix(8))")
            defer { publisher.stop() }
            try publisher.waitUntilConnected(timeout: 10)
            try publisher.publish("parks/p/z/emissions/pm25/a", text: text, qos: .atLeastOnce)
            try publisher.flush()
            return inbox.wait { messages, _ in messages.contains { String(decoding: $0.payload, as: UTF8.self) == text }
            }
        }
        // Connected to the first live address, past the dead one.
        #expect(try deliver(through: first, "one"))
        // The first broker stops: the client moves on to the second.
        first.stop()
        // Connected and subscribed again (that broker has no session of ours).
        #expect(inbox.wait(timeout: 15) { _, events in events.subscribedCount >= 2 })
        #expect(try deliver(through: second, "two"))
        // The second stops and the first comes back: the rotation wraps around (past the dead port).
        try first.start()
        second.stop()
        #expect(inbox.wait(timeout: 20) { _, events in events.subscribedCount >= 3 })
        #expect(try deliver(through: first, "three"))
    }

    @Test("addresses must share one scheme")
    func schemes() throws {
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: "mqtt://127.0.0.1:1883"), clientID: "x")
        configuration.fallbackURLs = [try BrokerURL(parsing: "mqtts://127.0.0.1:8883")]
        #expect(throws: MQTTError.self) { try configuration.validate() }
    }
}
