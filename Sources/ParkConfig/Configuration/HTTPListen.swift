/// Where an HTTP endpoint listens (`http.listen`).
public struct HTTPListen: Sendable, Equatable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (the port 0–65535), or nil.
    public static func parse(_ text: String) -> HTTPListen? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        return HTTPListen(host: String(text[..<colon]), port: port)
    }
}
