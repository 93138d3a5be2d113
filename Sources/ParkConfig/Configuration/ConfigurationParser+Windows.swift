import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `windows:`, `lateness:` and `validity:`.
    package func parseWindows(_ top: Fields, into configuration: inout DaemonConfiguration) throws(ConfigurationError) {
        let summaries = configuration.summaries
        // The default windows align to the park's local time, as summaries do.
        configuration.windows = WindowSpec.defaults(utcOffsetMinutes: summaries.utcOffsetMinutes)
        if let windows = top["windows"] {
            let offset = Int64(summaries.utcOffsetMinutes) * 60_000
            configuration.windows = try windows.list().map { (item: YAMLValue) throws(ConfigurationError) in
                let (spec, quantiles, detail) = try Self.window(item, offset: offset)
                if quantiles { configuration.quantileWindows.insert(spec.name) }
                if detail { configuration.detailWindows.insert(spec.name) }
                return spec
            }
            if configuration.windows.isEmpty { throw windows.error("needs at least one window") }
            let names = configuration.windows.map(\.name)
            if Set(names).count != names.count { throw windows.error("window names must differ") }
        }
        if let lateness = top["lateness"] { configuration.latenessSeconds = try lateness.duration(in: 0...(7 * 86400)) }
        if let validity = top["validity"] {
            let f = try validity.fields(["quarter_hours", "hours"])
            if let v = f["quarter_hours"] { configuration.validity.minQuarterHours = try v.int(in: 1...4) }
            if let v = f["hours"] { configuration.validity.minHours = try v.int(in: 1...24) }
        }
    }
}
