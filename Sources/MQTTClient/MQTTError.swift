import CMosquitto

/// An error from the MQTT client, carrying libmosquitto's own wording where it has one.
public enum MQTTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A libmosquitto call failed: the call, its error code and `mosquitto_strerror`'s text,
    /// plus the library's last logged error line when it explains more (TLS, DNS).
    case library(call: String, code: Int32, message: String, detail: String?)
    /// The broker answered CONNECT with a refusal (bad credentials, not authorised, ...).
    case connectionRefused(code: Int32, reason: String)
    /// The broker refused a subscription (granted QoS 0x80).
    case subscriptionRefused(filter: String)
    case invalidConfiguration(String)
    case notConnected
    case timedOut(String)
    /// `maxQueuedPublishes` messages wait for the broker and the caller asked not to wait.
    case queueFull(limit: Int)
    case stopped

    public var description: String {
        switch self {
        case .library(let call, let code, let message, let detail):
            let base = "\(call) failed: \(message) (libmosquitto error \(code))"
            if let detail, !detail.isEmpty { return base + ": " + detail }
            return base
        case .connectionRefused(let code, let reason):
            return "broker refused the connection: \(reason) (code \(code))"
        case .subscriptionRefused(let filter):
            return "broker refused the subscription to '\(filter)' (check the broker's ACL)"
        case .invalidConfiguration(let text):
            return "invalid MQTT configuration: \(text)"
        case .notConnected:
            return "not connected to the broker"
        case .timedOut(let what):
            return "timed out \(what)"
        case .queueFull(let limit):
            return "\(limit) publishes already wait for the broker"
        case .stopped:
            return "the client was stopped"
        }
    }

    static func check(_ rc: Int32, _ call: String, detail: String? = nil) throws(MQTTError) {
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError.library(call: call, code: rc, message: strerror(rc), detail: detail)
        }
    }

    static func strerror(_ rc: Int32) -> String {
        String(cString: mosquitto_strerror(rc))
    }
}
