/// One message as received, copied out of libmosquitto's buffers.
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int32
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: Int32 = 0, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// One message as received, read in place in libmosquitto's buffers: valid only during the
/// call it is handed to, so a handler that keeps it makes an `MQTTMessage` of it.
public struct MQTTMessageView {
    /// The topic's bytes (libmosquitto has checked them as UTF-8 for MQTT 3.1.1 and 5).
    public let topic: UnsafeBufferPointer<UInt8>
    public let payload: UnsafeBufferPointer<UInt8>
    public let qos: Int32
    public let retain: Bool

    public init(topic: UnsafeBufferPointer<UInt8>, payload: UnsafeBufferPointer<UInt8>, qos: Int32, retain: Bool) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

extension MQTTMessage {
    /// A copy of a message read in place.
    public init(_ view: MQTTMessageView) {
        self.init(
            topic: String(decoding: view.topic, as: UTF8.self), payload: Array(view.payload), qos: view.qos,
            retain: view.retain)
    }
}

/// What the client reports about its connection, from its network thread.
public enum MQTTClientEvent: Sendable, Equatable {
    case connected(sessionPresent: Bool)
    case connectFailed(MQTTError)
    case disconnected(reason: String)
    /// The network loop ended on an error libmosquitto does not retry itself; the client restarts it.
    case loopRestarted(reason: String)
    /// The watchdog saw no message for the configured time and recycled the connection.
    case watchdogRecycled(silentSeconds: Double)
    case subscribed(filters: [String])
    case subscriptionRefused(filter: String)
}
