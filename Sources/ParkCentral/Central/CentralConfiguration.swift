import Foundation
import MQTTClient
import ParkConfig
import TelemetryCore
import UplinkWire

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
    public var listen: HTTPListen? = HTTPListen(host: "127.0.0.1", port: 9109)
    /// Each gateway's parks (`gateways: {gw-a: [park-1, park-2]}`): a batch may carry only
    /// its gateway's parks. A gateway not listed may carry only the park of its own name (a
    /// gateway's name defaults to its park's).
    public var gateways: [String: Set<String>] = [:]
    /// libpq's connect timeout and the server's statement timeout (`database:`), seconds.
    public var connectTimeout = 5.0
    public var statementTimeout = 30.0
    /// A batch in hand (not stored, retried) longer than this makes /healthz 503 (`stalled_after`).
    public var stalledAfter = 60.0

    /// The parks `gateway` may report.
    package func parks(of gateway: String) -> Set<String> { gateways[gateway] ?? [gateway] }

    /// One session per shard, `{client_id}-{shard}`: the shard's queue follows its session,
    /// so a shard moved to another worker (by configuration) resumes where it stopped.
    package func sessionConfiguration(shard: String) -> MQTTClientConfiguration {
        broker.clientConfiguration(
            clientID: "\(broker.clientID)-\(shard)", cleanSession: false,
            subscriptions: [.init("\(topicPrefix)/\(shard)/#", qos: .atLeastOnce)], watchdog: nil, maxInflight: 100)
    }

    public static func load(path: String) throws(ConfigurationError) -> CentralConfiguration {
        let root = try DaemonConfiguration.compose(try DaemonConfiguration.readText(path), file: path)
        let parser = ConfigurationParser(
            file: path, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let top = try root.fields([
            "broker", "topic_prefix", "shards", "postgres", "postgres_env", "log", "http", "gateways", "database",
            "stalled_after",
        ])
        guard let brokerNode = top["broker"] else {
            throw root.error("missing 'broker' (the province's broker or cluster nodes)")
        }
        let broker = try parser.parseBroker(brokerNode, clientID: "parkd-central")
        if broker.protocolVersion != .v311 {
            throw brokerNode.error("protocol: the province cluster (NATS) speaks MQTT 3.1.1 only")
        }
        guard UplinkName.isValid(broker.clientID) else {
            throw brokerNode.error(
                "client_id '\(broker.clientID)' must be [a-z0-9_-] (each shard's session is named from it)")
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
        if let v = top["topic_prefix"] { configuration.topicPrefix = try ConfigurationParser.topicPrefix(v) }
        if let node = top["http"] {
            configuration.listen = try ConfigurationParser.http(node, default: configuration.listen)
        }
        if let log = top["log"], let level = try ConfigurationParser.logLevel(log) { configuration.logLevel = level }
        if let node = top["database"] {
            let f = try node.fields(["connect_timeout", "statement_timeout"])
            if let v = f["connect_timeout"] { configuration.connectTimeout = try v.duration(in: 1...300) }
            if let v = f["statement_timeout"] { configuration.statementTimeout = try v.duration(in: 1...3600) }
        }
        if let v = top["stalled_after"] { configuration.stalledAfter = try v.duration(in: 1...86400) }
        if let node = top["gateways"] {
            guard case .mapping(let mapping) = node.node else {
                throw node.error("expected a mapping of gateway to its parks, e.g. {gw-a: [park-1, park-2]}")
            }
            for (key, value) in mapping {
                let name = key.string ?? ""
                guard UplinkName.isValid(name) else { throw node.error("gateway '\(name)' must be [a-z0-9_-]") }
                let parks = try YAMLValue(node: value, path: "gateways.\(name)", file: path).list().map {
                    (item: YAMLValue) throws(ConfigurationError) in try item.nonEmptyString()
                }
                configuration.gateways[name] = Set(parks)
            }
        }
        return configuration
    }
}
