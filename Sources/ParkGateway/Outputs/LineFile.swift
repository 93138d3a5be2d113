import Foundation
import ParkConfig
import ParkIngest
import Synchronization
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// An append-only text file written one whole line per `write(2)`, so a reader tailing it
/// never sees half a line and a crash loses at most the line being written.
///
/// A line that cannot be written (a full disk, a removed directory) is kept, in order, and
/// written before anything else on the next `append` or `retry`; a partly written line is cut
/// off again, so the file never holds a torn line or two glued together. At most
/// `maxPending` lines wait; past that the oldest are dropped, counted and reported.
///
/// Rotation by size: past `rotation.maxBytes` the file becomes `path.1` (`path.1` becomes
/// `path.2`, ...; `rotation.keep` old files are kept) and a new one starts. If the new file
/// cannot be opened, the next attempt only opens it again: kept files are never shifted twice.
/// Lines reach the disk when the kernel writes them back; the file is synced at rotation and
/// at shutdown.
public final class LineFile: Sendable {
    public typealias Rotation = FileRotation

    public let path: String
    public let rotation: Rotation?
    public let maxPending: Int
    /// The open file and the lines it has not taken yet, behind one lock: callers on several
    /// threads (the loop, a reload, the HTTP endpoint's backlog read) never interleave.
    private let state: Mutex<State>

    private struct State: ~Copyable {
        let path: String
        let rotation: Rotation?
        var descriptor: Int32
        var size = 0
        var pending: [[UInt8]] = []
        var droppedLines = 0
        var failure: DaemonError?
        var isClosed = false

        /// Shifts the kept files only when the current one is open: a failed reopen before
        /// is retried alone.
        mutating func rotate() throws(DaemonError) {
            guard let rotation, descriptor >= 0 else { return }
            fsync(descriptor)
            Glibc.close(descriptor)
            descriptor = -1
            for index in stride(from: rotation.keep - 1, through: 1, by: -1) {
                rename("\(path).\(index)", "\(path).\(index + 1)")
            }
            if rotation.keep > 0 { rename(path, "\(path).1") } else { unlink(path) }
            unlink("\(path).\(rotation.keep + 1)")
            size = 0
            try reopen()
        }

        mutating func reopen() throws(DaemonError) {
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw .output(path: path, reason: String(cString: strerror(errno))) }
            var info = stat()
            size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
        }

        mutating func flushPending() throws(DaemonError) {
            var done = 0
            defer { if done > 0 { pending.removeFirst(done) } }
            do throws(DaemonError) {
                while done < pending.count {
                    if isClosed { throw DaemonError.output(path: path, reason: "the file was closed") }
                    if descriptor < 0 { try reopen() }
                    if let rotation, size > 0, size + pending[done].count > rotation.maxBytes { try rotate() }
                    try writeWhole(pending[done])
                    done += 1
                }
            } catch {
                failure = error
                throw error
            }
            failure = nil
        }

        /// All of `bytes` or, on failure, none: a partial write is cut off again.
        mutating func writeWhole(_ bytes: [UInt8]) throws(DaemonError) {
            let (written, failure) = AtomicFile.writeFully(descriptor, bytes)
            if let failure {
                if written > 0 { _ = ftruncate(descriptor, off_t(size)) }
                throw .output(path: path, reason: String(cString: strerror(failure)))
            }
            size += bytes.count
        }

        mutating func close() {
            isClosed = true
            if descriptor >= 0 {
                Glibc.close(descriptor)
                descriptor = -1
            }
        }
    }

    /// `truncate` starts the file afresh (replay); otherwise lines are appended (run).
    public init(path: String, truncate: Bool = false, rotation: Rotation? = nil, maxPending: Int = 100_000)
        throws(DaemonError)
    {
        self.path = path
        self.rotation = rotation
        self.maxPending = maxPending
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .output(path: path, reason: "cannot create its directory: \(error.localizedDescription)")
            }
        }
        if truncate { Self.removeRotated(path) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o644)
        guard descriptor >= 0 else {
            throw .output(path: path, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        let size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
        state = Mutex(State(path: path, rotation: rotation, descriptor: descriptor, size: size))
    }

    /// A file started afresh takes its old rotated files (`path.1`, `path.2`, ...) with it, so
    /// that a replay's output is only what that replay wrote.
    package static func removeRotated(_ path: String) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = url.lastPathComponent + "."
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where name.hasPrefix(prefix) && !name.dropFirst(prefix.count).isEmpty
            && name.dropFirst(prefix.count).allSatisfy(\.isNumber)
        {
            unlink(folder + "/" + name)
        }
    }

    deinit { close() }

    /// Appends one line. On failure the line is kept for the next attempt and the error thrown.
    public func append(_ line: String) throws(DaemonError) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        let maxPending = maxPending
        try state.withLock { (state) throws(DaemonError) in
            state.pending.append(bytes)
            if state.pending.count > maxPending {
                let excess = state.pending.count - maxPending
                state.pending.removeFirst(excess)
                state.droppedLines += excess
            }
            try state.flushPending()
        }
    }

    /// Writes the lines kept from failed attempts; throws if the file still refuses them.
    public func retry() throws(DaemonError) {
        try state.withLock { (state) throws(DaemonError) in try state.flushPending() }
    }

    /// Lines waiting to be written, lines dropped past `maxPending`, and the last error
    /// (nil once everything is written again).
    public var backlog: (pending: Int, dropped: Int, error: DaemonError?) {
        state.withLock { ($0.pending.count, $0.droppedLines, $0.failure) }
    }

    /// Forces written lines to the disk (used at shutdown).
    public func sync() {
        state.withLock { state in
            if state.descriptor >= 0 { fsync(state.descriptor) }
        }
    }

    public func close() {
        state.withLock { $0.close() }
    }
}

public enum DaemonError: Error, Sendable, CustomStringConvertible {
    case output(path: String, reason: String)
    case input(path: String, reason: String)

    public var description: String {
        switch self {
        case .output(let path, let reason): "cannot write '\(path)': \(reason)"
        case .input(let path, let reason): "cannot read '\(path)': \(reason)"
        }
    }

    /// What went wrong, without the path.
    public var reason: String {
        switch self {
        case .output(_, let reason), .input(_, let reason): reason
        }
    }
}
