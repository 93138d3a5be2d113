import Foundation
import Logging
import ParkIngest
import TelemetryCore

/// The regulator feed's open cycles and position, saved in the state directory with
/// `AtomicFile`: a restart loses no part of a cycle, and the cycles it was down for are
/// written (silent) rather than skipped.
package enum FeedState {
    package static let version = 1

    struct Document: Codable {
        var version: Int
        var savedMilliseconds: Int64
        var feed: RegulatorFeedStage.Saved
    }

    package static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        guard let feed = pipeline.feedState else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(Document(version: version, savedMilliseconds: time.milliseconds, feed: feed))
        try AtomicFile.write(Array(data) + [0x0A], to: path)
    }

    /// Restores the saved feed if there is a file; one that cannot be read is moved aside.
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        guard pipeline.feedState != nil, let data = FileManager.default.contents(atPath: path) else { return }
        do {
            let document = try JSONDecoder().decode(Document.self, from: data)
            guard document.version == version else { throw FeedError("unknown version \(document.version)") }
            if pipeline.restoreFeed(document.feed) {
                logger.notice("restored the regulator feed's open cycles from \(path)")
            } else {
                logger.warning(
                    "regulator feed state '\(path)' is of another cycle length; the open cycles in it are not used")
            }
        } catch {
            let aside = path + ".corrupt"
            try? FileManager.default.removeItem(atPath: aside)
            try? FileManager.default.moveItem(atPath: path, toPath: aside)
            logger.error("regulator feed state '\(path)' could not be read (\(error)); moved aside to \(aside)")
        }
    }
}
