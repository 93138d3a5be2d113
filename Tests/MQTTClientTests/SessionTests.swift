import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("Persistent sessions and reconnection")
struct SessionTests {
    @Test(
        "messages published while the client is away arrive when it returns, exactly once each",
        arguments: MQTTClientConfiguration.ProtocolVersion.allCases)
    func persistentSession(version: MQTTClientConfiguration.ProtocolVersion) throws {
        let broker = try Broker()
        let id = "parkd-persist-\(version.rawValue)"
        let subscriptions: [MQTTClientConfiguration.Subscription] = [.init("parks/#", qos: .atLeastOnce)]
        do {
            let first = Inbox()
            let client = try MQTTClient.make(
                broker.url, id: id, protocolVersion: version, subscriptions: subscriptions, inbox: first)
            try client.waitUntilConnected(timeout: 10)
            #expect(first.wait { _, events in events.subscribedCount == 1 })
            client.stop()
        }

        let publisher = try MQTTClient.make(broker.url, id: "pub-\(version.rawValue)", protocolVersion: version)
        try publisher.waitUntilConnected(timeout: 10)
        let count = 300
        for i in 0..<count {
            try publisher.publish("parks/p1/z1/energy/power/m\(i % 5)", text: "\(i)", qos: .atLeastOnce)
        }
        try publisher.flush()

        let second = Inbox()
        let returning = try MQTTClient.make(
            broker.url, id: id, protocolVersion: version, subscriptions: subscriptions, inbox: second)
        try returning.waitUntilConnected(timeout: 10)
        #expect(second.wait(forMessages: count))
        // Nothing more than the N should arrive: wait a little for stragglers or duplicates.
        Thread.sleep(forTimeInterval: 0.5)
        let values = second.received.compactMap { Int(String(decoding: $0.payload, as: UTF8.self)) }
        #expect(values.count == count)
        #expect(Set(values) == Set(0..<count))
        #expect(second.seenEvents.contains(.connected(sessionPresent: true)))
        // The session already holds the subscription: no re-subscribe, so no retained replays.
        #expect(second.seenEvents.subscribedCount == 0)
    }

    @Test("a handler that blocks holds back only its own acknowledgement: what it handled before is not redelivered")
    func blockedHandlerHoldsOnlyItsOwn() throws {
        let broker = try Broker()
        let id = "parkd-blocked"
        let subscriptions: [MQTTClientConfiguration.Subscription] = [.init("held/#", qos: .atLeastOnce)]
        try MQTTClient.subscriber(broker.url, id: id, filter: "held/#", inbox: Inbox()).stop()
        // Queued for the session while it is away: they arrive in one burst, read on in one pass.
        let publisher = try MQTTClient.connected(broker.url, id: "pub-held")
        for i in 0..<15 { try publisher.publish("held/m", text: "\(i)", qos: .atLeastOnce) }
        try publisher.flush()

        let seen = Inbox()
        let blocked = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: broker.url), clientID: id, subscriptions: subscriptions,
            reconnect: .init(initial: 0.1, maximum: 1))
        configuration.cleanSession = false
        let returning = try MQTTClient(
            configuration: configuration,
            onMessage: { message in
                seen.add(message)
                // The 10th message's handler cannot finish (its store is away) until told to.
                if message.payload == Array("9".utf8), seen.received.count == 10 {
                    blocked.signal()
                    release.wait()
                }
            }, onEvent: { seen.add($0) })
        returning.start()
        #expect(blocked.wait(timeout: .now() + 10) == .success)
        // The acknowledgements already written reach the broker (a wide margin on a loaded machine).
        Thread.sleep(forTimeInterval: 1)
        returning.abortConnection()  // the one being handled is never acknowledged
        release.signal()
        #expect(seen.wait(timeout: 10) { messages, _ in messages.count >= 16 })
        Thread.sleep(forTimeInterval: 0.5)
        let values = seen.received.compactMap { Int(String(decoding: $0.payload, as: UTF8.self)) }
        // 0–8 were handled and acknowledged before the 10th blocked: each arrives once. The 10th
        // (9) comes again; what followed it may too.
        for i in 0..<9 { #expect(values.filter { $0 == i }.count == 1, "message \(i): \(values)") }
        #expect(values.filter { $0 == 9 }.count == 2, "\(values)")
        #expect(Set(values) == Set(0..<15))
        returning.stop()
    }

    @Test("a killed and restarted broker: the client reconnects, re-subscribes and resumes by itself")
    func brokerRestart() throws {
        let broker = try Broker()
        let inbox = Inbox()
        let client = try MQTTClient.make(
            broker.url, id: "survivor", subscriptions: [.init("parks/#", qos: .atLeastOnce)], inbox: inbox)
        try client.waitUntilConnected(timeout: 10)
        #expect(inbox.wait { _, events in events.subscribedCount == 1 })

        broker.kill()
        #expect(inbox.wait { _, events in events.contains { if case .disconnected = $0 { true } else { false } } })
        try broker.start()
        // The restarted broker kept no session (persistence off), so the client must re-subscribe.
        #expect(inbox.wait(timeout: 15) { _, events in events.subscribedCount == 2 })

        let publisher = try MQTTClient.make(broker.url, id: "after-restart")
        try publisher.waitUntilConnected(timeout: 10)
        try publisher.publish("parks/p/z/energy/power/m1", text: "42", qos: .atLeastOnce)
        #expect(inbox.wait(forMessages: 1))
        #expect(inbox.received.first?.payload == Array("42".utf8))
        #expect(client.statistics.reconnects >= 1)
        #expect(client.isConnected)
    }

    @Test("a client started before its broker keeps trying and connects once the broker is up")
    func brokerLate() throws {
        let broker = try Broker()
        broker.stop()
        let inbox = Inbox()
        let client = try MQTTClient.make(
            broker.url, id: "early", subscriptions: [.init("a/#", qos: .atLeastOnce)], inbox: inbox)
        #expect(throws: MQTTError.self) { try client.waitUntilConnected(timeout: 5) }
        let failure = inbox.seenEvents.compactMap { if case .connectFailed(let e) = $0 { e } else { nil } }.first
        #expect(failure?.description.contains("Connection refused") == true)
        try broker.start()
        #expect(inbox.wait(timeout: 15) { _, events in events.subscribedCount == 1 })
        #expect(client.isConnected)
    }

    @Test("the watchdog recycles a connection that stays up but delivers nothing")
    func watchdog() throws {
        let broker = try Broker()
        let inbox = Inbox()
        let client = try MQTTClient.make(
            broker.url, id: "watched", subscriptions: [.init("quiet/#", qos: .atLeastOnce)], inbox: inbox
        ) { $0.watchdogTimeout = 1 }
        try client.waitUntilConnected(timeout: 10)
        #expect(
            inbox.wait(timeout: 10) { _, events in
                events.contains { if case .watchdogRecycled = $0 { true } else { false } }
            })
        // After recycling it is connected again and subscribed afresh.
        #expect(inbox.wait(timeout: 10) { _, events in events.subscribedCount >= 2 })
        #expect(client.statistics.watchdogRecycles >= 1)
        let publisher = try MQTTClient.make(broker.url, id: "wake")
        try publisher.waitUntilConnected(timeout: 10)
        try publisher.publish("quiet/x", text: "1", qos: .atLeastOnce)
        #expect(inbox.wait(forMessages: 1))
    }

    @Test("stopping while the broker has stopped reading waits for the socket between writes, not in a spin")
    func leaveWhileBrokerHung() throws {
        let broker = try Broker()
        let client = try MQTTClient.connected(broker.url, id: "stuck-writer")
        broker.pause()
        defer { broker.resume() }
        // 64 MiB of QoS 0 publishes: far more than the loopback socket buffers take, so
        // packets stay queued in libmosquitto when stop comes.
        let payload = [UInt8](repeating: 0x41, count: 65_536)
        for _ in 0..<1_000 {
            do { try client.publish("stuck/x", payload: payload, waitWhenFull: false) } catch { break }
        }
        Thread.sleep(forTimeInterval: 0.5)
        // The leave has packets to write: connected, and publishes not yet written.
        let before = client.statistics
        try #require(before.connected && before.published > before.completed, "\(before)")
        client.stop()
        // Before the wait, the leave retried the write at once, about two million times in its
        // 3 s (libmosquitto reports a write that would block as success). With it, each pass
        // waits up to 100 ms for the socket: about 30.
        let passes = client.statistics.leavePasses
        #expect(passes > 0 && passes < 100, "\(passes) passes")
    }
}
