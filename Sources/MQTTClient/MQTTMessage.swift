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
