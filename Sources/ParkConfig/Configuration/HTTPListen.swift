/// Where an HTTP endpoint listens (`http.listen`).
public struct HTTPListen: Sendable, Equatable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
