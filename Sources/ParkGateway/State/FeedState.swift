import Foundation
import Logging
import ParkIngest
import TelemetryCore

/// The regulator feed's open cycles and position, saved in the state directory: a restart
/// loses no part of a cycle, and the cycles it was down for are written (silent) rather than
/// skipped.
package enum FeedState {
    package static let version = 1

    package static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        guard let feed = pipeline.feedState else { return }
        try StateFile.saveJSON(feed, version: version, to: path, at: time)
    }

    /// Restores the saved feed if there is a file; one that cannot be read is moved aside.
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        guard pipeline.feedState != nil else { return }
        StateFile.loadJSON(
            RegulatorFeedStage.Saved.self, version: version, from: path, what: "regulator feed state",
            then: "its open cycles are lost", logger: logger
        ) { saved in
            if pipeline.restoreFeed(saved) {
                logger.notice("restored the regulator feed's open cycles from \(path)")
            } else {
                logger.warning(
                    "regulator feed state '\(path)' is of another cycle length; the open cycles in it are not used")
            }
        }
    }
}
