import Foundation
import Logging
import ParkIngest
import TelemetryCore

/// The Sparkplug host's state, saved in the state directory: each edge node's metric table
/// (alias → series and data type), its sequence number and bdSeq, and which nodes and devices
/// are dead. After a restart, DATA that the broker kept for parkd's session decodes at once,
/// and a node that died while parkd was down stays stale until it births again.
package enum SparkplugState {
    package static let version = 1

    package static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        guard let saved = pipeline.sparkplugState else { return }
        try StateFile.saveJSON(saved, version: version, to: path, at: time)
    }

    /// Restores the saved tables if there is a file; one that cannot be read is moved aside
    /// (the nodes are then asked to rebirth, when rebirth requests are on).
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        StateFile.loadJSON(
            SparkplugHost.Saved.self, version: version, from: path, what: "Sparkplug host state",
            then: "edge nodes' tables come from their next BIRTH", logger: logger
        ) { saved in
            pipeline.restoreSparkplug(saved)
            logger.notice("restored \(saved.nodes.count) Sparkplug edge nodes' tables from \(path)")
        }
    }
}
