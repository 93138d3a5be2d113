import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// The one way parkd writes a state file: a temporary file beside it, written whole and
/// fsynced, renamed over the old one, then the directory fsynced so the rename itself survives
/// a power cut. A reader sees the old file or the new one, never a mix; any failed step throws
/// and leaves the old file as it was.
package enum AtomicFile {
    package static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o640) throws(DaemonError) {
        try write(to: path, mode: mode) { (write) throws(DaemonError) in try write(bytes) }
    }

    /// As `write(_:to:)`, for contents handed over in pieces by `contents` (a state file too
    /// big to build whole in memory first).
    package static func write(
        to path: String, mode: mode_t = 0o640,
        contents: (_ write: ([UInt8]) throws(DaemonError) -> Void) throws(DaemonError) -> Void
    ) throws(DaemonError) {
        let folder = try makeFolder(of: path)
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw .output(path: temporary, reason: String(cString: strerror(errno))) }
        var cleaned = false
        func fail(_ reason: String) -> DaemonError {
            if !cleaned {
                close(descriptor)
                unlink(temporary)
                cleaned = true
            }
            return .output(path: temporary, reason: reason)
        }
        func writeAll(_ bytes: [UInt8]) throws(DaemonError) {
            // Never after a failure: the descriptor is closed, its number maybe another file's now.
            guard !cleaned else { throw .output(path: temporary, reason: "written after a failed write") }
            if let failure = writeFully(descriptor, bytes).error { throw fail(String(cString: strerror(failure))) }
        }
        do {
            try contents(writeAll)
        } catch {
            _ = fail("")  // the old file stays; the temporary goes (once, whoever failed)
            throw error
        }
        guard fsync(descriptor) == 0 else { throw fail("fsync: \(String(cString: strerror(errno)))") }
        guard close(descriptor) == 0 else {
            unlink(temporary)
            throw .output(path: temporary, reason: "close: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .output(path: path, reason: reason)
        }
        try syncFolder(folder)
    }

    /// Writes all of `bytes` (again after EINTR or a short write); on failure, the errno and
    /// how many bytes went out before it.
    package static func writeFully(_ descriptor: Int32, _ bytes: [UInt8]) -> (written: Int, error: Int32?) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return (offset, errno)
            }
            offset += written
        }
        return (offset, nil)
    }

    /// Creates the folder `path` goes in (and its parents); returns it.
    package static func makeFolder(of path: String) throws(DaemonError) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let folder = directory.isEmpty ? "." : directory
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw .output(path: path, reason: "cannot create its directory: \(error.localizedDescription)")
        }
        return folder
    }

    /// fsyncs a folder, so that a name made or renamed in it survives a power cut.
    package static func syncFolder(_ folder: String) throws(DaemonError) {
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folderDescriptor >= 0 else {
            throw .output(path: folder, reason: "open for fsync: \(String(cString: strerror(errno)))")
        }
        defer { close(folderDescriptor) }
        guard fsync(folderDescriptor) == 0 else {
            throw .output(path: folder, reason: "fsync: \(String(cString: strerror(errno)))")
        }
    }
}
