import CMosquitto
import Logging

/// An MQTT client over libmosquitto: one network thread per client, messages handed to
/// `onMessage` on that thread as they arrive (no task hop, no queue), publish from anywhere.
///
/// Keep `onMessage` quick: it runs on the network thread, and a slow handler delays
/// keepalives and acknowledgements. Dropping the last reference stops the client.
public final class MQTTClient: Sendable {
    private let engine: MosquittoEngine

    public init(
        configuration: MQTTClientConfiguration,
        logger: Logger = Logger(label: "mqtt"),
        onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in },
        onEvent: @escaping @Sendable (MQTTClientEvent) -> Void = { _ in }
    ) throws(MQTTError) {
        engine = try MosquittoEngine(
            configuration: configuration, logger: logger, onMessage: .copied(onMessage), onEvent: onEvent)
    }

    /// As `init(configuration:logger:onMessage:onEvent:)`, handing each message to `onMessageView`
    /// in libmosquitto's buffers: no copy of the topic or payload (the ingest path).
    public init(
        configuration: MQTTClientConfiguration,
        logger: Logger = Logger(label: "mqtt"),
        onMessageView: @escaping @Sendable (MQTTMessageView) -> Void,
        onEvent: @escaping @Sendable (MQTTClientEvent) -> Void = { _ in }
    ) throws(MQTTError) {
        engine = try MosquittoEngine(
            configuration: configuration, logger: logger, onMessage: .inPlace(onMessageView), onEvent: onEvent)
    }

    deinit {
        engine.stop(timeout: 10)
    }

    public var configuration: MQTTClientConfiguration { engine.configuration }

    /// Starts the network thread, which connects, subscribes and reconnects by itself.
    public func start() {
        engine.start()
    }

    /// Blocks until connected; throws the latest failure (refusal, TLS, DNS) if there is one.
    public func waitUntilConnected(timeout: Double) throws(MQTTError) {
        try engine.waitUntilConnected(timeout: timeout)
    }

    public var isConnected: Bool { engine.isConnected }

    /// Publishes from any thread. While `maxQueuedPublishes` are unacknowledged it waits
    /// (bounded), or with `waitWhenFull: false` throws `queueFull` at once.
    public func publish(
        _ topic: String, payload: [UInt8], qos: QoS = .atMostOnce, retain: Bool = false, waitWhenFull: Bool = true
    ) throws(MQTTError) {
        try payload.withUnsafeBufferPointer { (buffer) throws(MQTTError) in
            let bytes = UnsafeRawBufferPointer(buffer)
            try engine.publish(topic: topic, payload: bytes, qos: qos, retain: retain, waitWhenFull: waitWhenFull)
        }
    }

    public func publish(
        _ topic: String, text: String, qos: QoS = .atMostOnce, retain: Bool = false, waitWhenFull: Bool = true
    ) throws(MQTTError) {
        try publish(topic, payload: Array(text.utf8), qos: qos, retain: retain, waitWhenFull: waitWhenFull)
    }

    /// Waits until everything published so far is written (QoS 0) or acknowledged (QoS 1).
    public func flush(timeout: Double = 10) throws(MQTTError) {
        try engine.flush(timeout: timeout)
    }

    /// Cuts the connection without DISCONNECT, from a message handler: the message it is
    /// handling is not acknowledged (the PUBACK libmosquitto queued cannot be written), so a
    /// persistent session gets it again.
    public func abortConnection() {
        engine.abortConnection()
    }

    /// Disconnects cleanly and ends the network thread. Idempotent.
    public func stop(timeout: Double = 10) {
        engine.stop(timeout: timeout)
    }

    public var statistics: Statistics {
        Statistics(
            received: engine.received.load(ordering: .relaxed),
            published: engine.published.load(ordering: .relaxed),
            completed: engine.completed.load(ordering: .relaxed),
            refused: engine.refusedPublishes.load(ordering: .relaxed),
            reconnects: engine.reconnects.load(ordering: .relaxed),
            loopRestarts: engine.loopRestarts.load(ordering: .relaxed),
            watchdogRecycles: engine.watchdogRecycles.load(ordering: .relaxed),
            leavePasses: engine.leavePasses.load(ordering: .relaxed),
            connected: engine.isConnected)
    }

    /// The MQTT 5 reason code of the latest refused publish, and its name (0 when none was).
    public var lastRefusal: (code: Int32, reason: String) {
        let code = engine.lastRefusalCode.load(ordering: .relaxed)
        return (code, code == 0 ? "" : String(cString: mosquitto_reason_string(code)))
    }

    public struct Statistics: Sendable, Equatable {
        public var received: UInt64
        public var published: UInt64
        /// Publishes written (QoS 0) or acknowledged (QoS 1), refused ones included.
        public var completed: UInt64
        /// QoS 1 publishes the broker acknowledged with a refusal (MQTT 5 reason code ≥ 0x80).
        public var refused: UInt64
        public var reconnects: UInt64
        public var loopRestarts: UInt64
        public var watchdogRecycles: UInt64
        /// Passes of the write loop while stopping, before DISCONNECT: each waits up to 100 ms
        /// for the socket to take bytes, so a broker that stopped reading costs about 30 in the
        /// loop's 3 s, not a spinning core.
        public var leavePasses: UInt64
        public var connected: Bool
    }
}
