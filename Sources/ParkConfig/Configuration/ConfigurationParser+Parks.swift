import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `parks:`: area, green-area target and the wastewater outlet (QCVN 40's Kq and Kf).
    package func parseParks(_ top: Fields, into configuration: inout DaemonConfiguration) throws(ConfigurationError) {
        if let parks = top["parks"] {
            guard case .mapping(let mapping) = parks.node else {
                throw parks.error("expected a mapping of park id to {area_m2, green_target}")
            }
            for (key, value) in mapping {
                let name = key.string ?? ""
                let site = YAMLValue(node: value, path: "parks.\(name)", file: file)
                let f = try site.fields(["area_m2", "green_target", "wastewater", "zero_export"])
                var park = ParkSite()
                if let v = f["zero_export"] { park.zeroExport = try v.bool() }
                if let v = f["area_m2"] { park.areaM2 = Double(try v.int(in: 1...1_000_000_000_000)) }
                if let v = f["green_target"] {
                    let text = try v.string()
                    guard let share = Double(text), (0...1).contains(share) else {
                        throw v.error("expected a share 0...1, found '\(text)'")
                    }
                    park.greenTarget = share
                }
                if let node = f["wastewater"] {
                    let w = try node.fields(["zone", "sensor", "kq", "kf"])
                    guard let zone = w["zone"] else {
                        throw node.error("the wastewater outlet needs its zone (and optionally sensor), kq and kf")
                    }
                    func coefficient(_ key: String) throws(ConfigurationError) -> Double {
                        guard let v = w[key] else { return 1 }
                        let text = try v.string()
                        guard let value = Double(text), value > 0, value <= 2 else {
                            throw v.error("expected \(key) as in QCVN 40 §2 (e.g. 0.9, 1, 1.1, 1.2), found '\(text)'")
                        }
                        return value
                    }
                    park.wastewater = WastewaterOutlet(
                        zone: try zone.nonEmptyString(), sensor: try w["sensor"]?.nonEmptyString(),
                        kq: try coefficient("kq"), kf: try coefficient("kf"))
                }
                configuration.parks[name] = park
            }
        }
    }
}
