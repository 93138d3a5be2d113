import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `uplink:`, and the names it requires of parks and expected sensors.
    package func parseUplinkSection(_ top: Fields, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        if let node = top["uplink"] {
            let uplink = try parseUplink(node, configuration: configuration)
            configuration.uplink = uplink
            configuration.limits.uplinkNames = true
            for (name, _) in configuration.parks where !UplinkName.isValid(name) {
                throw (top["parks"] ?? node).error(
                    "park '\(name)' must be [a-z0-9_-] when an uplink is configured (names go into province topics)")
            }
            for id in configuration.expectedSensors {
                if let bad = UplinkName.firstInvalid(in: id) {
                    throw (top["expected_sensors"] ?? node).error(
                        "'\(bad)' in \(id) must be [a-z0-9_-] when an uplink is configured (names go into province topics)"
                    )
                }
            }
        }
    }
}
