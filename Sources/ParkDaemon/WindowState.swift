import Foundation
import Logging
import TelemetryCore

/// The window snapshot in the state directory: written atomically (temporary file, fsync,
/// rename), restored at start, set aside when it cannot be read.
enum WindowState {
    static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        let bytes = pipeline.snapshot(at: time)
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw DaemonError.output(path: temporary, reason: String(cString: strerror(errno)))
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw DaemonError.output(path: temporary, reason: reason)
            }
            offset += written
        }
        fsync(descriptor)
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            throw DaemonError.output(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Restores the snapshot if there is one; logs what it restored and how old it was.
    static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        do throws(SnapshotError) {
            let (series, saved) = try pipeline.restore(snapshot: Array(data))
            let age = (WallClock.now().milliseconds - saved.milliseconds) / 1000
            logger.notice(
                "restored the windows of \(series) series from \(path), taken \(age)s ago; readings after it and before this start come from the broker's persistent session or are lost"
            )
        } catch {
            let aside = path + ".corrupt"
            try? FileManager.default.removeItem(atPath: aside)
            try? FileManager.default.moveItem(atPath: path, toPath: aside)
            logger.error(
                "window snapshot '\(path)' could not be read (\(error)); moved aside to \(aside), windows start empty")
        }
    }
}
