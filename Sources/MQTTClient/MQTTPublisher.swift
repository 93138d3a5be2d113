import Logging

/// A publish-only client driven by the one thread that owns it: no network thread, so each
/// publish is written straight to the socket and acknowledgements are read between publishes.
/// This is what a load generator wants; it reaches `mosquitto_pub`'s rates where the
/// threaded client pays a thread wake-up per message. Not for use from several threads.
public final class MQTTPublisher {
    private let engine: MosquittoEngine

    public init(configuration: MQTTClientConfiguration, logger: Logger = Logger(label: "mqtt")) throws(MQTTError) {
        var configuration = configuration
        configuration.subscriptions = []
        configuration.watchdogTimeout = nil
        engine = try MosquittoEngine(
            configuration: configuration, logger: logger, inline: true, onMessage: .copied({ _ in }), onEvent: { _ in })
    }

    deinit { engine.disconnectInline() }

    /// Connects and waits for the broker's answer; throws its refusal or the network error.
    public func connect(timeout: Double = 15) throws(MQTTError) {
        try engine.connectInline(timeout: timeout)
    }

    public func publish(_ topic: String, payload: [UInt8], qos: QoS = .atMostOnce, retain: Bool = false)
        throws(MQTTError)
    {
        try payload.withUnsafeBufferPointer { (buffer) throws(MQTTError) in
            let bytes = UnsafeRawBufferPointer(buffer)
            try engine.publishInline(topic: topic, payload: bytes, qos: qos, retain: retain)
        }
    }

    /// Waits until everything published is written (QoS 0) or acknowledged (QoS 1).
    public func flush(timeout: Double = 30) throws(MQTTError) {
        try engine.serviceInline(until: 1, timeout: timeout)
    }

    public func disconnect() { engine.disconnectInline() }

    public var isConnected: Bool { engine.isConnected }

    /// Drives the network loop for `seconds` (acknowledgements, keepalive pings): call it
    /// instead of sleeping between paced publishes.
    public func idle(for seconds: Double) throws(MQTTError) {
        let deadline = ContinuousClock.now + .milliseconds(Int(max(0, seconds) * 1000))
        while ContinuousClock.now < deadline {
            try engine.serviceInline(until: .max, timeout: 0)
            let left = deadline - ContinuousClock.now
            if left <= .zero { return }
            try engine.waitInline(
                milliseconds: min(
                    100, Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
        }
    }

    public var acknowledged: UInt64 { engine.completed.load(ordering: .relaxed) }
}
