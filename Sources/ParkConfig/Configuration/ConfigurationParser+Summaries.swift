import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `summaries:` and `compliance:` (the record file and topic), defaults under `state_dir`.
    package func parseSummaries(_ top: Fields, stateDirectory: String) throws(ConfigurationError)
        -> DaemonConfiguration.Summaries
    {
        let summariesNode = top["summaries"]
        let summaryFields = try summariesNode?.fields([
            "path", "series_path", "interval", "intervals", "utc_offset", "max_bytes", "keep", "mqtt_topic",
        ])
        var summaries = DaemonConfiguration.Summaries(
            path: try summaryFields?["path"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            } ?? stateDirectory + "/summaries.jsonl")
        summaries.seriesPath = try summaryFields?["series_path"].map { (node: YAMLValue) throws(ConfigurationError) in
            resolve(try node.nonEmptyString())
        }
        if let interval = summaryFields?["interval"], let intervals = summaryFields?["intervals"] {
            _ = intervals
            throw interval.error("give interval or intervals, not both")
        }
        if let interval = summaryFields?["interval"] { summaries.intervals = [try interval.duration(in: 1...86400)] }
        if let list = summaryFields?["intervals"] {
            let values = try list.list().map { (item: YAMLValue) throws(ConfigurationError) in
                try item.duration(in: 1...(31 * 86400))
            }
            guard !values.isEmpty else { throw list.error("needs at least one interval") }
            guard Set(values).count == values.count else { throw list.error("intervals must differ") }
            guard values.count <= ParkAccounting.maxSchedules else {
                throw list.error("at most \(ParkAccounting.maxSchedules) intervals (\(values.count) given)")
            }
            summaries.intervals = values.sorted()
        }
        if let fields = summaryFields { summaries.rotation = try Self.rotation(fields) }
        if let node = summaryFields?["mqtt_topic"] { summaries.mqttTopic = try Self.topic(node) }
        summaries.compliancePath = stateDirectory + "/compliance.jsonl"
        if let node = top["compliance"] {
            let f = try node.fields(["path", "mqtt_topic", "revise_within", "sampling_interval"])
            if let v = f["revise_within"] {
                summaries.compliancePolicy.reviseMilliseconds = Int64(try v.duration(in: 0...(31 * 86400)) * 1000)
            }
            if let v = f["sampling_interval"] {
                summaries.compliancePolicy.samplingMilliseconds = Int64(try v.duration(in: 1...3600) * 1000)
            }
            if let path = f["path"] {
                let text = try path.nonEmptyString()
                summaries.compliancePath = text.lowercased() == "off" ? nil : resolve(text)
            }
            if let topic = f["mqtt_topic"] { summaries.complianceTopic = try Self.topic(topic) }
        }
        if let offset = summaryFields?["utc_offset"] {
            let text = try offset.string()
            guard let minutes = TimeText.utcOffsetMinutes(text) else {
                throw offset.error("expected an offset such as +07:00, found '\(text)'")
            }
            summaries.utcOffsetMinutes = minutes
        }
        return summaries
    }
}
