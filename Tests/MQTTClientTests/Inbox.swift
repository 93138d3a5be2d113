import Foundation
import MQTTClient
import Testing

/// Collects what a client's callbacks deliver, for tests to wait on.
final class Inbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var messages: [MQTTMessage] = []
    private var events: [MQTTClientEvent] = []

    func add(_ message: MQTTMessage) {
        condition.lock()
        messages.append(message)
        condition.broadcast()
        condition.unlock()
    }

    func add(_ event: MQTTClientEvent) {
        condition.lock()
        events.append(event)
        condition.broadcast()
        condition.unlock()
    }

    var received: [MQTTMessage] {
        condition.lock()
        defer { condition.unlock() }
        return messages
    }

    var seenEvents: [MQTTClientEvent] {
        condition.lock()
        defer { condition.unlock() }
        return events
    }

    /// Waits until the predicate over (messages, events) holds; false on timeout.
    @discardableResult
    func wait(timeout: Double = 10, until predicate: ([MQTTMessage], [MQTTClientEvent]) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(messages, events) {
            if !condition.wait(until: deadline) { return predicate(messages, events) }
        }
        return true
    }

    @discardableResult
    func wait(forMessages count: Int, timeout: Double = 10) -> Bool {
        wait(timeout: timeout) { messages, _ in messages.count >= count }
    }
}

extension MQTTClient {
    /// A started client whose messages and events land in `inbox`.
    static func make(
        _ url: String, id: String, protocolVersion: MQTTClientConfiguration.ProtocolVersion = .v311,
        subscriptions: [MQTTClientConfiguration.Subscription] = [], inbox: Inbox = Inbox(),
        configure: (inout MQTTClientConfiguration) -> Void = { _ in }
    ) throws -> MQTTClient {
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: url), protocolVersion: protocolVersion, clientID: id,
            subscriptions: subscriptions, reconnect: .init(initial: 0.1, maximum: 1))
        configure(&configuration)
        let client = try MQTTClient(
            configuration: configuration, onMessage: { inbox.add($0) }, onEvent: { inbox.add($0) })
        client.start()
        return client
    }
}

extension [MQTTClientEvent] {
    var subscribedCount: Int {
        filter { if case .subscribed = $0 { true } else { false } }.count
    }
}

extension [MQTTClientEvent] {
    var connectFailures: Int {
        filter { if case .connectFailed = $0 { true } else { false } }.count
    }
}

extension MQTTClient {
    /// A started client subscribed to `filter` at QoS 1, connected, its subscription granted.
    static func subscriber(
        _ url: String, id: String, filter: String, protocolVersion: MQTTClientConfiguration.ProtocolVersion = .v311,
        inbox: Inbox, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> MQTTClient {
        let client = try make(
            url, id: id, protocolVersion: protocolVersion, subscriptions: [.init(filter, qos: .atLeastOnce)],
            inbox: inbox)
        try client.waitUntilConnected(timeout: 10)
        #expect(inbox.wait { _, events in events.subscribedCount == 1 }, sourceLocation: sourceLocation)
        return client
    }

    /// A started client without subscriptions, connected.
    static func connected(
        _ url: String, id: String, protocolVersion: MQTTClientConfiguration.ProtocolVersion = .v311
    ) throws -> MQTTClient {
        let client = try make(url, id: id, protocolVersion: protocolVersion)
        try client.waitUntilConnected(timeout: 10)
        return client
    }
}
