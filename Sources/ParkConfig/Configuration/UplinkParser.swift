import Foundation
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `uplink:`: the upstream broker (as `broker:`, with `urls:` for a cluster's nodes), the
    /// gateway's name and shard, what to send, and the outbox's bounds.
    /// 1 MiB, what the shipped brokers take in one message, less 64 KiB for the envelope.
    package static let maxBatchBytes = (1 << 20) - (64 << 10)

    package func parseUplink(_ node: YAMLValue, configuration: DaemonConfiguration) throws(ConfigurationError)
        -> DaemonConfiguration.Uplink
    {
        let f = try node.fields([
            "broker", "gateway", "shard", "topic_prefix", "send", "max_items", "max_age", "rate", "batch_items",
            "batch_bytes",
        ])
        guard let brokerNode = f["broker"] else {
            throw node.error("missing 'broker' (the province's broker or cluster nodes: url or urls)")
        }
        guard configuration.history.path != nil else {
            throw node.error("the uplink's outbox lives in the history store: history.path must not be off")
        }
        func name(_ key: String, _ node: YAMLValue) throws(ConfigurationError) -> String {
            let text = try node.nonEmptyString()
            guard UplinkName.isValid(text) else {
                throw node.error("\(key) '\(text)' must be 1 to 64 characters of [a-z0-9_-] (it goes into topics)")
            }
            return text
        }
        let parks = configuration.parks.keys.sorted()
        let gateway: String
        if let g = f["gateway"] {
            gateway = try name("gateway", g)
        } else if parks.count == 1 {
            guard UplinkName.isValid(parks[0]) else {
                throw node.error(
                    "missing 'gateway': it defaults to the park's name, but '\(parks[0])' is not [a-z0-9_-] (it goes into topics); set uplink.gateway"
                )
            }
            gateway = parks[0]
        } else {
            throw node.error("missing 'gateway': this gateway's name in item ids and topics (e.g. the park's id)")
        }
        guard let shardNode = f["shard"] else {
            throw node.error("missing 'shard': the province partition this gateway reports to (e.g. s1)")
        }
        // A session of its own on the province side (acknowledged items are never resent), under
        // a client id that cannot collide with the sensor side's. MQTT 5 where the broker speaks
        // it (a gateway's mosquitto in bridged mode), so that a refused publish is not taken for
        // a delivery; 3.1.1 with the province cluster (NATS speaks nothing else).
        let broker = try parseBroker(brokerNode, clientID: "parkd-uplink-\(gateway)", protocol: .auto)
        var uplink = DaemonConfiguration.Uplink(broker: broker, gateway: gateway, shard: try name("shard", shardNode))
        if let v = f["topic_prefix"] { uplink.topicPrefix = try Self.topicPrefix(v) }
        if let v = f["send"] {
            var kinds = Set<DaemonConfiguration.Uplink.Kind>()
            for item in try v.list() {
                let text = try item.string()
                guard let kind = DaemonConfiguration.Uplink.Kind(rawValue: text) else {
                    throw item.error(
                        "expected one of \(DaemonConfiguration.Uplink.Kind.allCases.map(\.rawValue).joined(separator: ", ")), found '\(text)'"
                    )
                }
                kinds.insert(kind)
            }
            guard !kinds.isEmpty else { throw v.error("needs at least one of alerts, summaries, compliance, rollups") }
            uplink.kinds = kinds
        }
        if let v = f["max_items"] { uplink.maxItems = try v.int(in: 1_000...100_000_000) }
        if let v = f["max_age"] { uplink.maxAgeMilliseconds = Int64(try v.duration(in: 3600...(3650 * 86400)) * 1000) }
        if let v = f["rate"] { uplink.rate = Double(try v.int(in: 10...1_000_000)) }
        if let v = f["batch_items"] { uplink.batchItems = try v.int(in: 1...10_000) }
        if let v = f["batch_bytes"] {
            // The shipped brokers take at most 1 MiB a message (the gateway's mosquitto,
            // message_size_limit; the NATS cluster, max_payload): a larger batch would be
            // refused every time, and the outbox would never drain. Room is left for the envelope.
            let bytes = try v.int(in: 4096...Int.max)
            guard bytes <= Self.maxBatchBytes else {
                throw v.error(
                    "\(bytes) is above \(Self.maxBatchBytes) (960 KiB): the gateway's mosquitto and the NATS cluster refuse messages past 1 MiB"
                )
            }
            uplink.batchBytes = bytes
        }
        return uplink
    }

    /// An uplink topic prefix: levels of `[a-z0-9_-]` (the gateway's and the central worker's).
    package static func topicPrefix(_ node: YAMLValue) throws(ConfigurationError) -> String {
        let text = try node.nonEmptyString()
        guard
            text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ UplinkName.isValid(String($0)) })
        else { throw node.error("topic_prefix '\(text)' must be levels of [a-z0-9_-] separated by '/'") }
        return text
    }
}
