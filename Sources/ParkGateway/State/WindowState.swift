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
    /// The file is read a few MiB at a time: held whole, it took as much memory again as the
    /// series it restores.
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        guard let file = FilePieces(path, pieceBytes: 4 * WindowSnapshot.chunkBytes) else { return }
        let outcome = Result { () throws(SnapshotError) in try pipeline.restore(reading: file.fromStart) }
        switch outcome {
        case .success(let (series, saved)):
            let age = (WallClock.now().milliseconds - saved.milliseconds) / 1000
            logger.notice(
                "restored the windows of \(series) series from \(path), taken \(age)s ago (written over a few seconds from then on); readings after it and before this start come from the broker's persistent session or are lost"
            )
        case .failure(let error):
            if let readError = file.readError {
                logger.error("window snapshot '\(path)' could not be read (\(readError)); windows start empty")
            } else {
                StateFile.moveAside(
                    path, what: "window snapshot", error: error, then: "windows start empty", logger: logger)
            }
        }
    }
}
