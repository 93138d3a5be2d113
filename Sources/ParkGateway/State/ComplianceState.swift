import Foundation
import Logging
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// The open compliance periods (each station's hour, day and calendar year so far) saved in
/// the state directory, so a restart does not lose a year's daily means.
package enum ComplianceState {
    /// 2: trackers keep an open hour's readings (time weights, revisions).
    package static let version = 2

    package struct Entry: Codable {
        package var park, zone, pillar, kind, sensor: String
        package var tracker: ComplianceTracker
    }

    package static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        let entries = pipeline.complianceTrackers.lazy.map { id, tracker in
            Entry(
                park: id.park, zone: id.zone, pillar: id.pillar.rawValue, kind: id.kind, sensor: id.sensor,
                tracker: tracker)
        }
        try StateFile.saveJSONArray(entries, version: version, to: path, at: time)
    }

    /// Restores the saved periods if there is a file; one that cannot be read is moved aside.
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        StateFile.loadJSONArray(
            Entry.self, version: version, from: path, what: "compliance state", then: "periods start afresh",
            logger: logger
        ) { entries in
            var saved: [(SeriesID, ComplianceTracker)] = []
            for entry in entries {
                guard let pillar = Pillar(rawValue: entry.pillar) else { throw FeedError("unknown pillar") }
                saved.append(
                    (
                        SeriesID(
                            park: entry.park, zone: entry.zone, pillar: pillar, kind: entry.kind, sensor: entry.sensor),
                        entry.tracker
                    ))
            }
            let restored = pipeline.restoreCompliance(saved)
            logger.notice("restored the open compliance periods of \(restored) stations from \(path)")
        }
    }
}
