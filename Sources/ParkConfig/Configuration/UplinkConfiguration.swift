import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension DaemonConfiguration {
    /// What leaves the gateway for the province (`uplink:`): items go to the outbox in the
    /// history store first, then out over a connection of their own.
    public struct Uplink: Sendable, Equatable {
        public typealias Kind = UplinkItemKind

        public var broker: Broker
        /// This gateway's name in item ids and in the topic (`[a-z0-9_-]`).
        public var gateway: String
        /// The province's partition this gateway belongs to: one central worker serves a shard.
        public var shard: String
        public var topicPrefix = "uplink"
        public var kinds: Set<Kind> = Set(Kind.allCases)
        /// The outbox keeps at most this many items, and none older than `maxAge`: past
        /// either, the oldest go first (counted and logged).
        public var maxItems = 1_000_000
        public var maxAgeMilliseconds: Int64 = 7 * 86_400_000
        /// Items sent per second at most, so draining a long outage never starves ingest.
        public var rate = 2000.0
        /// One message carries up to this many items (and about `batchBytes`).
        public var batchItems = 500
        public var batchBytes = 256 * 1024

        /// What the history writer does with each batch's uplink items.
        package var outboxPolicy: OutboxPolicy {
            OutboxPolicy(gateway: gateway, kinds: kinds, maxItems: maxItems, maxAgeMilliseconds: maxAgeMilliseconds)
        }

        /// `{prefix}/{shard}/{gateway}`: the shard level lets a central worker take its
        /// partition with one filter.
        public var topic: String { "\(topicPrefix)/\(shard)/\(gateway)" }

        package var clientConfiguration: MQTTClientConfiguration {
            broker.clientConfiguration(subscriptions: [], watchdog: nil, maxInflight: 20)
        }
    }
}

/// What the history writer does with a batch's uplink items: which to keep, and the outbox's bounds.
package struct OutboxPolicy: Sendable, Equatable {
    package var gateway: String
    package var kinds: Set<UplinkItemKind>
    package var maxItems: Int
    package var maxAgeMilliseconds: Int64
}
