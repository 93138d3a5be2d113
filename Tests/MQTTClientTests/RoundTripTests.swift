import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("Round trips through a real mosquitto")
struct RoundTripTests {
    @Test(
        "QoS 0 and 1 deliver every message, byte for byte", arguments: MQTTClientConfiguration.ProtocolVersion.allCases)
    func roundTrip(version: MQTTClientConfiguration.ProtocolVersion) throws {
        let broker = try Broker()
        let inbox = Inbox()
        let subscriber = try MQTTClient.subscriber(
            broker.url, id: "sub-\(version.rawValue)", filter: "rt/#", protocolVersion: version, inbox: inbox)
        let publisher = try MQTTClient.connected(broker.url, id: "pub-\(version.rawValue)", protocolVersion: version)

        var sent: [MQTTMessage] = []
        for i in 0..<100 {
            // Binary payloads with NUL bytes and every byte value must survive the copy.
            let payload = (0..<(i % 7 * 37)).map { UInt8(($0 * 31 + i) % 256) }
            let qos: QoS = i % 2 == 0 ? .atMostOnce : .atLeastOnce
            let topic = "rt/\(qos.rawValue)/m\(i)"
            try publisher.publish(topic, payload: payload, qos: qos)
            sent.append(MQTTMessage(topic: topic, payload: payload))
        }
        try publisher.flush(timeout: 10)
        #expect(inbox.wait(forMessages: 100))
        let received = inbox.received.map { MQTTMessage(topic: $0.topic, payload: $0.payload) }
        #expect(received.count == 100)
        #expect(Set(received.map(\.topic)) == Set(sent.map(\.topic)))
        for message in sent {
            #expect(received.first { $0.topic == message.topic }?.payload == message.payload)
        }
        #expect(subscriber.statistics.received == 100)
        #expect(publisher.statistics.completed == 100)
    }

    @Test("a flood read in bursts arrives whole and in order, and the connection carries on after it")
    func burstsInOrder() throws {
        let broker = try Broker()
        let inbox = Inbox()
        let subscriber = try MQTTClient.subscriber(broker.url, id: "sub-burst", filter: "burst/#", inbox: inbox)
        let publisher = try MQTTClient.connected(broker.url, id: "pub-burst")
        // Faster than one message per select: the subscriber reads on while packets wait.
        let count = 20_000
        for i in 0..<count { try publisher.publish("burst/one", text: "\(i)", qos: .atLeastOnce) }
        try publisher.flush(timeout: 60)
        #expect(inbox.wait(forMessages: count, timeout: 60))
        let values = inbox.received.map { Int(String(decoding: $0.payload, as: UTF8.self)) }
        #expect(values == Array(0..<count))
        // The loop went back to waiting: a lone message after a pause still arrives.
        Thread.sleep(forTimeInterval: 0.5)
        try publisher.publish("burst/one", text: "after", qos: .atMostOnce)
        #expect(inbox.wait(forMessages: count + 1))
        #expect(inbox.received.last?.payload == Array("after".utf8))
        #expect(subscriber.statistics.received == UInt64(count + 1))
    }

    @Test("payloads larger than the socket takes at once, published from another thread, arrive whole and in order")
    func largePayloads() throws {
        let broker = try Broker()
        let inbox = Inbox()
        let subscriber = try MQTTClient.subscriber(broker.url, id: "sub-large", filter: "large/#", inbox: inbox)
        // A client with a network thread: that thread writes what other threads publish (woken
        // for it), a few socket buffers' worth for each of these payloads.
        let publisher = try MQTTClient.connected(broker.url, id: "pub-large")
        let payloads = (0..<6).map { i in (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) } }
        for (i, payload) in payloads.enumerated() {
            try publisher.publish("large/\(i)", payload: payload, qos: i % 2 == 0 ? .atMostOnce : .atLeastOnce)
        }
        try publisher.flush(timeout: 60)
        #expect(inbox.wait(forMessages: payloads.count, timeout: 60))
        #expect(inbox.received.map(\.topic) == payloads.indices.map { "large/\($0)" })
        #expect(inbox.received.map(\.payload) == payloads)
        #expect(subscriber.statistics.received == UInt64(payloads.count))
        #expect(publisher.statistics.completed == UInt64(payloads.count))
    }

    @Test("publish is safe from many threads at once")
    func concurrentPublish() throws {
        let broker = try Broker()
        let inbox = Inbox()
        let subscriber = try MQTTClient.subscriber(broker.url, id: "sub-many", filter: "many/#", inbox: inbox)
        let publisher = try MQTTClient.connected(broker.url, id: "pub-many")
        let failures = Inbox()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<250 {
                do throws(MQTTError) {
                    try publisher.publish("many/\(thread)", text: "\(thread)-\(i)", qos: .atLeastOnce)
                } catch {
                    failures.add(.connectFailed(error))
                }
            }
        }
        try publisher.flush()
        #expect(failures.seenEvents.isEmpty)
        #expect(inbox.wait(forMessages: 2000))
        let texts = Set(inbox.received.map { String(decoding: $0.payload, as: UTF8.self) })
        #expect(texts.count == 2000)
        #expect(subscriber.statistics.received == 2000)
        #expect(publisher.statistics.completed == 2000)
    }

    @Test("a retained message reaches a subscriber that arrives later, flagged retained")
    func retained() throws {
        let broker = try Broker()
        let publisher = try MQTTClient.connected(broker.url, id: "pub-retain")
        try publisher.publish("status/gateway", text: "online", qos: .atLeastOnce, retain: true)
        try publisher.flush()

        let inbox = Inbox()
        let late = try MQTTClient.make(
            broker.url, id: "late", subscriptions: [.init("status/#", qos: .atLeastOnce)], inbox: inbox)
        try late.waitUntilConnected(timeout: 10)
        #expect(inbox.wait(forMessages: 1))
        let message = try #require(inbox.received.first)
        #expect(message.topic == "status/gateway")
        #expect(message.payload == Array("online".utf8))
        #expect(message.retain)
    }

    @Test("stopping a client while a flood arrives neither crashes nor leaks a callback")
    func stopUnderLoad() throws {
        let broker = try Broker()
        let publisher = try MQTTClient.connected(broker.url, id: "flood")
        for round in 0..<5 {
            let inbox = Inbox()
            var subscriber: MQTTClient? = try MQTTClient.make(
                broker.url, id: "victim-\(round)", subscriptions: [.init("flood/#", qos: .atMostOnce)], inbox: inbox)
            try subscriber?.waitUntilConnected(timeout: 10)
            #expect(inbox.wait { _, events in events.subscribedCount == 1 })
            for i in 0..<2_000 {
                try publisher.publish("flood/\(i % 10)", payload: Array(repeating: UInt8(i % 256), count: 64))
                if i == 1_000 { subscriber = nil }  // last reference dropped mid-stream
            }
            #expect(subscriber == nil)
            try publisher.flush()
        }
    }
}
