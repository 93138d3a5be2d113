import Foundation
import MQTTClient
import Yams

/// `parkd central`'s configuration: the province broker (a cluster's nodes), the shards this
/// worker serves, and the database.
public struct CentralConfiguration: Sendable {
    public var file: String
    public var broker: DaemonConfiguration.Broker
    public var topicPrefix = "uplink"
    public var shards: [String]
    /// libpq connection string (`host=127.0.0.1 port=5432 dbname=province user=parkd`).
    public var postgres: String
    public var logLevel = "info"
    /// /metrics and /healthz; loopback by default, nil when off.
    public var http: (host: String, port: Int)? = ("127.0.0.1", 9109)

    /// One session per shard, `{client_id}-{shard}`: the shard's queue follows its session,
    /// so a shard moved to another worker (by configuration) resumes where it stopped.
    func sessionConfiguration(shard: String) -> MQTTClientConfiguration {
        var client = MQTTClientConfiguration(
            url: broker.url, protocolVersion: broker.protocolVersion, clientID: "\(broker.clientID)-\(shard)",
            keepAlive: broker.keepAlive, username: broker.username, password: broker.password, tls: broker.tls,
            cleanSession: false, sessionExpiry: UInt32(broker.sessionExpiry),
            subscriptions: [.init("\(topicPrefix)/\(shard)/#", qos: .atLeastOnce)],
            reconnect: .init(initial: broker.reconnectInitial, maximum: broker.reconnectMaximum),
            watchdogTimeout: nil, maxInflight: 100)
        client.fallbackURLs = broker.fallbackURLs
        return client
    }

    public static func load(path: String) throws(ConfigurationError) -> CentralConfiguration {
        let (read, problem) = DaemonConfiguration.readSmallFile(path)
        guard let data = read, let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, keyPath: "", message: problem ?? "the file is not UTF-8 text")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(file: path, keyPath: "", message: "not valid YAML: \(error)")
        }
        guard let node else { throw ConfigurationError(file: path, keyPath: "", message: "the file is empty") }
        let root = YAMLValue(node: node, path: "", file: path)
        let parser = ConfigurationParser(
            file: path, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let top = try root.fields(["broker", "topic_prefix", "shards", "postgres", "postgres_env", "log", "http"])
        guard let brokerNode = top["broker"] else {
            throw root.error("missing 'broker' (the province's broker or cluster nodes)")
        }
        var broker = try parser.parseBroker(brokerNode)
        if try brokerNode.fields([
            "url", "protocol", "client_id", "keepalive", "username", "password_file", "password_env", "tls",
            "clean_session", "session_expiry", "reconnect", "watchdog", "urls",
        ])["client_id"] == nil {
            broker.clientID = "parkd-central"
        }
        guard UplinkName.isValid(broker.clientID) else {
            throw brokerNode.error(
                "client_id '\(broker.clientID)' must be [a-z0-9_-] (each shard's session is named from it)")
        }
        guard broker.protocolVersion == .v311 else {
            throw brokerNode.error("the province cluster (NATS) speaks MQTT 3.1.1 only")
        }
        guard let shardsNode = top["shards"] else {
            throw root.error("missing 'shards': the partitions this worker serves, e.g. [s1]")
        }
        let shards = try shardsNode.list().map { (item: YAMLValue) throws(ConfigurationError) -> String in
            let text = try item.nonEmptyString()
            guard UplinkName.isValid(text) else { throw item.error("shard '\(text)' must be [a-z0-9_-]") }
            return text
        }
        guard !shards.isEmpty else { throw shardsNode.error("needs at least one shard") }
        guard Set(shards).count == shards.count else { throw shardsNode.error("a shard is listed twice") }
        let postgres: String
        switch (top["postgres"], top["postgres_env"]) {
        case (let v?, nil): postgres = try v.nonEmptyString()
        case (nil, let v?):
            let name = try v.nonEmptyString()
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw v.error("environment variable \(name) is not set")
            }
            postgres = value
        case (_?, _?): throw root.error("give postgres or postgres_env, not both")
        case (nil, nil):
            throw root.error(
                "missing 'postgres': a libpq connection string, e.g. 'host=127.0.0.1 port=5432 dbname=province'")
        }
        var configuration = CentralConfiguration(file: path, broker: broker, shards: shards, postgres: postgres)
        if let v = top["topic_prefix"] {
            let text = try v.nonEmptyString()
            guard
                text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({
                    UplinkName.isValid(String($0))
                })
            else { throw v.error("topic_prefix '\(text)' must be levels of [a-z0-9_-] separated by '/'") }
            configuration.topicPrefix = text
        }
        if let node = top["http"] {
            if case .scalar = node.node, try node.string().lowercased() == "off" {
                configuration.http = nil
            } else if let listen = try node.fields(["listen"])["listen"] {
                let text = try listen.nonEmptyString()
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                    (0...65535).contains(port)
                else { throw listen.error("expected host:port such as 127.0.0.1:9109, found '\(text)'") }
                configuration.http = (String(text[..<colon]), port)
            }
        }
        if let log = top["log"], let level = try log.fields(["level"])["level"] {
            configuration.logLevel = try level.string().lowercased()
        }
        return configuration
    }
}
