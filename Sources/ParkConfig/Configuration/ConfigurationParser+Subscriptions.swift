import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `subscriptions:`: MQTT filters and their QoS, checked as the client would.
    package func parseSubscriptions(
        _ top: Fields, broker: DaemonConfiguration.Broker, into configuration: inout DaemonConfiguration
    ) throws(ConfigurationError) {
        if let subscriptions = top["subscriptions"] {
            configuration.subscriptions = try subscriptions.list().map {
                (item: YAMLValue) throws(ConfigurationError) -> MQTTClientConfiguration.Subscription in
                let f = try item.fields(["filter", "qos"])
                guard let filterNode = f["filter"] else { throw item.error("missing 'filter'") }
                let filter = try filterNode.nonEmptyString()
                let qos = try f["qos"]?.int(in: 0...1) ?? 1
                let subscription = MQTTClientConfiguration.Subscription(
                    filter, qos: qos == 0 ? .atMostOnce : .atLeastOnce)
                do {
                    try MQTTClientConfiguration(url: broker.url, clientID: "x", subscriptions: [subscription])
                        .validate()
                } catch {
                    throw filterNode.error("\(error)")
                }
                return subscription
            }
            if configuration.subscriptions.isEmpty { throw subscriptions.error("needs at least one filter") }
        }
    }
}
