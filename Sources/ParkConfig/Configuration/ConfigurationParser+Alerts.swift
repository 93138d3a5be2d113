import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `alerts:`: the JSON Lines file, the readable log, rotation and the MQTT topic.
    package func parseAlerts(_ top: Fields, stateDirectory: String) throws(ConfigurationError)
        -> DaemonConfiguration.Alerts
    {
        let alertFields = try top["alerts"]?.fields(["path", "log", "max_bytes", "keep", "mqtt_topic"])
        var alerts = DaemonConfiguration.Alerts(
            path: try alertFields?["path"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            } ?? stateDirectory + "/alerts.jsonl",
            log: try alertFields?["log"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            })
        if let fields = alertFields { alerts.rotation = try Self.rotation(fields) }
        if let node = alertFields?["mqtt_topic"] { alerts.mqttTopic = try Self.topic(node) }
        return alerts
    }
}
