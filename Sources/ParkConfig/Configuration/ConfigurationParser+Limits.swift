import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `payload:` (size and JSON field names) and `limits:` (quotas and time admission).
    package func parsePayloadAndLimits(_ top: Fields, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        if let payload = top["payload"] {
            let f = try payload.fields(["max_bytes", "fields"])
            if let maxBytes = f["max_bytes"] { configuration.payload.maxBytes = try maxBytes.int(in: 16...268_435_455) }
            if let names = f["fields"] {
                let n = try names.fields(["value", "ts", "unit", "status", "seq"])
                if let v = n["value"] { configuration.payload.fields.value = try v.nonEmptyString() }
                if let v = n["ts"] { configuration.payload.fields.time = try v.nonEmptyString() }
                if let v = n["unit"] { configuration.payload.fields.unit = try v.nonEmptyString() }
                if let v = n["status"] { configuration.payload.fields.status = try v.nonEmptyString() }
                if let v = n["seq"] { configuration.payload.fields.seq = try v.nonEmptyString() }
            }
        }
        if let limits = top["limits"] {
            let f = try limits.fields([
                "max_series", "max_series_per_park", "max_new_series_per_message", "allow_unknown_kinds", "series_ttl",
                "max_ahead", "max_age", "max_topic_bytes", "max_topic_levels",
            ])
            var l = configuration.limits
            if let v = f["max_series"] { l.maxSeries = try v.int(in: 1...10_000_000) }
            // Unset, a park may have every series a smaller max_series allows.
            l.maxSeriesPerPark = min(l.maxSeriesPerPark, l.maxSeries)
            if let v = f["max_series_per_park"] { l.maxSeriesPerPark = try v.int(in: 1...l.maxSeries) }
            if let v = f["max_new_series_per_message"] { l.maxNewSeriesPerMessage = try v.int(in: 1...100_000) }
            if let v = f["allow_unknown_kinds"] { l.allowUnknownKinds = try v.bool() }
            if let v = f["series_ttl"] {
                l.seriesTTLMilliseconds = Int64(try v.duration(in: 60...(3650 * 86400)) * 1000)
            }
            if let v = f["max_ahead"] {
                l.time.maxAheadMilliseconds = Int64(try v.duration(in: 0...(366 * 86400)) * 1000)
            }
            if let v = f["max_age"] {
                l.time.maxAgeMilliseconds = Int64(try v.duration(in: 60...(3650 * 86400)) * 1000)
            }
            if let v = f["max_topic_bytes"] { l.maxTopicBytes = try v.int(in: 16...65535) }
            if let v = f["max_topic_levels"] { l.maxTopicLevels = try v.int(in: 2...128) }
            configuration.limits = l
        }
    }
}
