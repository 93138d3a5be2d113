/// Where the broker is: `mqtt://host[:port]` (plain TCP, default port 1883) or
/// `mqtts://host[:port]` (TLS, default port 8883). IPv6 hosts go in brackets.
public struct BrokerURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var usesTLS: Bool

    public init(host: String, port: Int, usesTLS: Bool) {
        self.host = host
        self.port = port
        self.usesTLS = usesTLS
    }

    public init(parsing text: String) throws(MQTTError) {
        let scheme: Substring
        let rest: Substring
        if let range = text.range(of: "://") {
            scheme = text[..<range.lowerBound]
            rest = text[range.upperBound...]
        } else {
            throw .invalidConfiguration(
                "broker URL '\(text)' has no scheme; expected mqtt://host:port or mqtts://host:port")
        }
        switch scheme.lowercased() {
        case "mqtt", "tcp": usesTLS = false
        case "mqtts", "ssl", "tls": usesTLS = true
        default:
            throw .invalidConfiguration("broker URL '\(text)' has scheme '\(scheme)'; expected mqtt or mqtts")
        }
        var authority = rest
        if let slash = authority.firstIndex(of: "/") {
            guard authority[slash...].allSatisfy({ $0 == "/" }) else {
                throw .invalidConfiguration("broker URL '\(text)' has a path; MQTT URLs name only host and port")
            }
            authority = authority[..<slash]
        }
        if authority.contains("@") {
            throw .invalidConfiguration(
                "broker URL must not carry credentials; set username, and password_file or password_env")
        }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw .invalidConfiguration("broker URL '\(text)' has an unclosed IPv6 bracket")
            }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw .invalidConfiguration("broker URL '\(text)' has text after the IPv6 address")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { throw .invalidConfiguration("broker URL '\(text)' has no host") }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw .invalidConfiguration("broker URL '\(text)' has port '\(portText)'; expected 1-65535")
            }
            port = value
        } else {
            port = usesTLS ? 8883 : 1883
        }
    }

    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(usesTLS ? "mqtts" : "mqtt")://\(shown):\(port)"
    }
}
