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

    /// A host that drops the handshake (a dead link, a firewall) made libmosquitto's connect
    /// wait about two minutes, the kernel's SYN retries, before the next address was tried.
    @Test("an address that never answers the TCP handshake is given up after connect_timeout; the next one is used")
    func unansweredHandshake() throws {
        let silent = try SilentListener()
        let broker = try Broker()
        let inbox = Inbox()
        let client = try MQTTClient.make(silent.url, id: "bounded", inbox: inbox) { configuration in
            configuration.fallbackURLs = [try! BrokerURL(parsing: broker.url)]
            configuration.connectTimeout = 1
        }
        defer { client.stop() }
        // Well under the kernel's two minutes, with room for a slow machine.
        try client.waitUntilConnected(timeout: 20)
        #expect(inbox.wait { _, events in events.connectFailures >= 1 })
        withExtendedLifetime(silent) {}
    }

    @Test("addresses must share one scheme")
    func schemes() throws {
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: "mqtt://127.0.0.1:1883"), clientID: "x")
        configuration.fallbackURLs = [try BrokerURL(parsing: "mqtts://127.0.0.1:8883")]
        #expect(throws: MQTTError.self) { try configuration.validate() }
    }
}

/// A loopback listener whose accept queue is full and never drained: the kernel drops every
/// further handshake, as a host behind a dead link does.
final class SilentListener {
    let port: Int
    private let listener: Int32
    private var fillers: [Int32] = []
    var url: String { "mqtt://127.0.0.1:\(port)" }

    init() throws {
        port = try FreePort.pick()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = FreePort.loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 0) == 0 else { throw HarnessError("cannot listen on \(port)") }
        // Backlog 0 holds one connection; two more make sure it is full. Non-blocking: the
        // ones the kernel will not take stay in SYN-SENT, which is all that is needed.
        for _ in 0..<3 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var target = FreePort.loopback(port: port)
            _ = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            fillers.append(fd)
        }
        usleep(100_000)
    }

    deinit {
        for fd in fillers { close(fd) }
        close(listener)
    }
}
