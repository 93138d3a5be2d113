import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `uplink:`.
    package func parseUplinkSection(_ top: Fields, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        if let node = top["uplink"] {
            let uplink = try parseUplink(node, configuration: configuration)
            configuration.uplink = uplink
            // Only the gateway and the shard go into province topics (checked in `uplink:`);
            // park, zone, kind and sensor names travel inside the JSON batch, where any text is safe.
        }
    }
}
