import Foundation
import Logging
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// The window snapshot in the state directory: written with `AtomicFile`, restored at start,
/// set aside when it cannot be read.
package enum WindowState {
    package static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        try AtomicFile.write(to: path) { (write) throws(DaemonError) in try pipeline.snapshot(at: time, write: write) }
    }

    /// Restores the snapshot if there is one; logs what it restored and how old it was.
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        guard let bytes = AtomicFile.read(path) else { return }
        do throws(SnapshotError) {
            let (series, saved) = try pipeline.restore(snapshot: bytes)
            let age = (WallClock.now().milliseconds - saved.milliseconds) / 1000
            logger.notice(
                "restored the windows of \(series) series from \(path), taken \(age)s ago (written over a few seconds from then on); readings after it and before this start come from the broker's persistent session or are lost"
            )
        } catch {
            StateFile.moveAside(
                path, what: "window snapshot", error: error, then: "windows start empty", logger: logger)
        }
    }
}
