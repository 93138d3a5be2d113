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
                let f = try site.fields(["area_m2", "green_target", "wastewater", "zero_export", "zones"])
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
                        // No default: C alone is the limit only where the permit says Kq = Kf = 1.
                        guard let v = w[key] else {
                            throw node.error(
                                "the wastewater outlet needs \(key) (QCVN 40:2011 §2.2: Kq by the receiving water's flow or volume, Kf by the discharge flow; write 1 where the table gives 1)"
                            )
                        }
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
                if let node = f["zones"] {
                    guard case .mapping(let pairs) = node.node else {
                        throw node.error("expected zones as {<zone>: ordinary | special | production}")
                    }
                    for (key, value) in pairs {
                        let zone = key.string ?? ""
                        let cls = try YAMLValue(node: value, path: node.path + "." + zone, file: file).string()
                        guard ["ordinary", "special", "production"].contains(cls) else {
                            throw node.error(
                                "zone '\(zone)': expected ordinary, special (QCVN 26 Table 1) or production, found '\(cls)'"
                            )
                        }
                        park.zoneClasses[zone] = cls
                    }
                }
                configuration.parks[name] = park
            }
        }
    }
}
