import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `history:`: the store, its resolution and retention, the daily reports.
    package func parseHistory(_ top: Fields, stateDirectory: String, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        configuration.history.path = stateDirectory + "/history.sqlite"
        configuration.history.reportsDirectory = stateDirectory + "/reports"
        if let node = top["history"] {
            let h = try node.fields(["path", "resolution", "retention", "reports"])
            if let reports = h["reports"] {
                let r = try reports.fields(["dir", "pdf"])
                if let dir = r["dir"] {
                    let text = try dir.nonEmptyString()
                    configuration.history.reportsDirectory = text.lowercased() == "off" ? nil : resolve(text)
                }
                if let pdf = r["pdf"] { configuration.history.reportsPDF = try pdf.bool() }
            }
            if let path = h["path"] {
                let text = try path.nonEmptyString()
                configuration.history.path = text.lowercased() == "off" ? nil : resolve(text)
            }
            if let r = h["resolution"] {
                let seconds = try r.duration(in: 60...86400)
                guard 86400.0.truncatingRemainder(dividingBy: seconds) == 0 else {
                    throw r.error(
                        "the resolution must divide a day (1m, 5m, 15m, 1h, …), found \(TimeText.format(seconds))")
                }
                configuration.history.resolutionMilliseconds = Int64(seconds * 1000)
            }
            if let node = h["retention"] {
                let r = try node.fields(["rollups", "compliance", "alerts", "summaries"])
                func days(_ key: String) throws(ConfigurationError) -> Int64? {
                    try r[key].map { (v: YAMLValue) throws(ConfigurationError) in
                        Int64(try v.duration(in: 3600...(100 * 366 * 86400)) * 1000)
                    }
                }
                if let v = try days("rollups") { configuration.history.retention.rollupsMilliseconds = v }
                if let v = try days("compliance") { configuration.history.retention.complianceMilliseconds = v }
                if let v = try days("alerts") { configuration.history.retention.alertsMilliseconds = v }
                if let v = try days("summaries") { configuration.history.retention.summariesMilliseconds = v }
            }
        }
    }
}
