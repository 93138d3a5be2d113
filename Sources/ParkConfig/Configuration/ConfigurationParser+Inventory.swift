import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `expected_sensors:`: the inventory, and energy meters' roles.
    package func parseInventory(_ top: Fields, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        if let expected = top["expected_sensors"] {
            configuration.expectedSensors = try expected.list().map {
                (item: YAMLValue) throws(ConfigurationError) -> SeriesID in
                let e = try item.fields(["park", "zone", "pillar", "kind", "sensor", "role"])
                func value(_ key: String) throws(ConfigurationError) -> String {
                    guard let node = e[key] else {
                        throw item.error("an expected sensor needs park, zone, pillar, kind and sensor")
                    }
                    return try node.nonEmptyString()
                }
                let pillarText = try value("pillar")
                guard let pillar = Pillar(rawValue: pillarText) else {
                    throw item.error("pillar '\(pillarText)' is not energy, emissions or green")
                }
                let id = SeriesID(
                    park: try value("park"), zone: try value("zone"), pillar: pillar, kind: try value("kind"),
                    sensor: try value("sensor"))
                if let node = e["role"] {
                    let text = try node.string()
                    guard let role = MeterRole(rawValue: text) else {
                        throw node.error(
                            "expected a meter role (\(MeterRole.allCases.map(\.rawValue).joined(separator: ", "))), found '\(text)'"
                        )
                    }
                    guard id.pillar == .energy else {
                        throw node.error(
                            "a meter role belongs to an energy meter (pillar energy), not '\(id.pillar.rawValue)'")
                    }
                    configuration.meterRoles[id] = role
                }
                return id
            }
        }
    }
}
