/// Everything the client needs to reach a broker and keep a session with it.
public struct MQTTClientConfiguration: Sendable {
    public enum ProtocolVersion: String, Sendable, CaseIterable {
        case v311 = "3.1.1"
        case v5 = "5"
        /// MQTT 5, or 3.1.1 with a broker that refuses 5 (NATS): 5 is what carries a refused
        /// publish back to the publisher as a reason code; 3.1.1 acknowledges it all the same.
        case auto = "auto"
    }

    public struct TLS: Sendable, Equatable {
        /// PEM file of the certificate authorities to trust; nil means the system's store.
        public var caFile: String?
        public var caPath: String?
        public var certFile: String?
        public var keyFile: String?
        /// Off only for test rigs: without it any certificate for any host is accepted.
        public var verifyHostname: Bool

        public init(
            caFile: String? = nil, caPath: String? = nil, certFile: String? = nil, keyFile: String? = nil,
            verifyHostname: Bool = true
        ) {
            self.caFile = caFile
            self.caPath = caPath
            self.certFile = certFile
            self.keyFile = keyFile
            self.verifyHostname = verifyHostname
        }
    }

    public struct Subscription: Sendable, Equatable {
        public var filter: String
        public var qos: QoS
        public init(_ filter: String, qos: QoS = .atLeastOnce) {
            self.filter = filter
            self.qos = qos
        }
    }

    /// Capped exponential backoff between connection attempts, in seconds.
    public struct Backoff: Sendable, Equatable {
        public var initial: Double
        public var maximum: Double
        public init(initial: Double = 0.5, maximum: Double = 30) {
            self.initial = initial
            self.maximum = maximum
        }
        public func delay(attempt: Int) -> Double {
            let exponent = Double(min(attempt, 30))
            return min(maximum, initial * pow2(exponent))
        }
        private func pow2(_ x: Double) -> Double {
            var result = 1.0
            for _ in 0..<Int(x) { result *= 2 }
            return result
        }
    }

    public var url: BrokerURL
    /// Further brokers to try, in turn, when a connection to the current one fails or is lost
    /// (libmosquitto connects to one host: the client rotates).
    public var fallbackURLs: [BrokerURL] = []
    /// Every broker address, the first one first.
    public var addresses: [BrokerURL] { [url] + fallbackURLs }
    public var protocolVersion: ProtocolVersion
    public var clientID: String
    /// Seconds between keepalive pings.
    public var keepAlive: Int
    public var username: String?
    public var password: Secret?
    /// Applies when `url` is mqtts, or when set for an mqtt URL (TLS on a custom port).
    public var tls: TLS?
    /// False keeps a persistent session: QoS 1 messages published while away are delivered on return.
    public var cleanSession: Bool
    /// MQTT 5 only: how long the broker keeps the session after a disconnect, in seconds.
    /// Without it an MQTT 5 broker drops the session at disconnect.
    public var sessionExpiry: UInt32
    public var subscriptions: [Subscription]
    public var reconnect: Backoff
    /// Recycle a connection that delivers no message for this many seconds; nil turns it off.
    public var watchdogTimeout: Double?
    /// QoS 1 messages in flight at once, both directions.
    public var maxInflight: Int
    /// `publish` waits while this many messages are queued and not yet acknowledged.
    public var maxQueuedPublishes: Int
    /// The message the broker publishes for this client when its connection ends without a
    /// DISCONNECT (a Sparkplug host's `online:false`, an edge node's NDEATH).
    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: QoS
        public var retain: Bool
        public init(topic: String, payload: [UInt8], qos: QoS = .atLeastOnce, retain: Bool = false) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }
    public var will: Will?
    /// Seconds a TCP connection to a broker may take before the address counts as unreachable.
    /// The kernel alone would wait about two minutes for a host that drops the handshake.
    public var connectTimeout: Double = 10

    public init(
        url: BrokerURL,
        protocolVersion: ProtocolVersion = .v311,
        clientID: String,
        keepAlive: Int = 30,
        username: String? = nil,
        password: Secret? = nil,
        tls: TLS? = nil,
        cleanSession: Bool = false,
        sessionExpiry: UInt32 = 7 * 24 * 3600,
        subscriptions: [Subscription] = [],
        reconnect: Backoff = Backoff(),
        watchdogTimeout: Double? = nil,
        maxInflight: Int = 100,
        maxQueuedPublishes: Int = 10_000
    ) {
        self.url = url
        self.protocolVersion = protocolVersion
        self.clientID = clientID
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.tls = tls
        self.cleanSession = cleanSession
        self.sessionExpiry = sessionExpiry
        self.subscriptions = subscriptions
        self.reconnect = reconnect
        self.watchdogTimeout = watchdogTimeout
        self.maxInflight = maxInflight
        self.maxQueuedPublishes = maxQueuedPublishes
    }

    /// Checks what libmosquitto would otherwise reject late or silently.
    public func validate() throws(MQTTError) {
        if clientID.isEmpty && !cleanSession {
            throw .invalidConfiguration("a persistent session (clean_session false) needs a client_id")
        }
        if clientID.utf8.count > 65535 { throw .invalidConfiguration("client_id is longer than 65535 bytes") }
        if !(5...65535).contains(keepAlive) { throw .invalidConfiguration("keepalive must be 5-65535 seconds") }
        if password != nil && username == nil {
            throw .invalidConfiguration("a password is set without a username")
        }
        if let tls, (tls.certFile == nil) != (tls.keyFile == nil) {
            throw .invalidConfiguration("a TLS client certificate needs both cert_file and key_file")
        }
        for subscription in subscriptions {
            try Self.validateFilter(subscription.filter)
        }
        if reconnect.initial <= 0 || reconnect.maximum < reconnect.initial {
            throw .invalidConfiguration("reconnect backoff needs 0 < initial <= maximum")
        }
        if fallbackURLs.contains(where: { $0.usesTLS != url.usesTLS }) {
            throw .invalidConfiguration("broker addresses mix mqtt and mqtts; use one scheme for all")
        }
        if let watchdogTimeout, watchdogTimeout <= 0 {
            throw .invalidConfiguration("watchdog timeout must be positive")
        }
        if !(connectTimeout > 0 && connectTimeout <= 600) {
            throw .invalidConfiguration("connect timeout must be above 0 and at most 600 seconds")
        }
        if maxInflight < 1 || maxQueuedPublishes < 1 {
            throw .invalidConfiguration("max_inflight and max_queued must be at least 1")
        }
    }

    static func validateFilter(_ filter: String) throws(MQTTError) {
        if filter.isEmpty { throw .invalidConfiguration("empty subscription filter") }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) {
                throw .invalidConfiguration("filter '\(filter)': '#' must be a whole level and the last one")
            }
            if level.contains("+") && level != "+" {
                throw .invalidConfiguration("filter '\(filter)': '+' must be a whole level")
            }
        }
    }
}

public enum QoS: Int32, Sendable, Equatable {
    case atMostOnce = 0
    case atLeastOnce = 1
}
