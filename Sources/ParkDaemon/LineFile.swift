import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An append-only text file written one whole line per `write(2)`, so a reader tailing it
/// never sees half a line and a crash loses at most the line being written.
///
/// Rotation by size: past `rotation.maxBytes` the file becomes `path.1` (`path.1` becomes
/// `path.2`, ...; `rotation.keep` old files are kept) and a new one starts. Lines reach the
/// disk when the kernel writes them back; the file is synced at rotation and at shutdown.
public final class LineFile: @unchecked Sendable {
    public struct Rotation: Sendable, Equatable {
        public var maxBytes: Int
        public var keep: Int
        public init(maxBytes: Int = 100 * 1_048_576, keep: Int = 5) {
            self.maxBytes = maxBytes
            self.keep = keep
        }
    }

    public let path: String
    public let rotation: Rotation?
    private let lock = NSLock()
    private var descriptor: Int32
    private var size = 0

    /// `truncate` starts the file afresh (replay); otherwise lines are appended (run).
    public init(path: String, truncate: Bool = false, rotation: Rotation? = nil) throws(DaemonError) {
        self.path = path
        self.rotation = rotation
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .output(path: path, reason: "cannot create its directory: \(error.localizedDescription)")
            }
        }
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o644)
        guard descriptor >= 0 else {
            throw .output(path: path, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        if fstat(descriptor, &info) == 0 { size = Int(info.st_size) }
    }

    /// Must hold `lock`.
    private func rotate() throws(DaemonError) {
        guard let rotation else { return }
        fsync(descriptor)
        Glibc.close(descriptor)
        for index in stride(from: rotation.keep - 1, through: 1, by: -1) {
            rename("\(path).\(index)", "\(path).\(index + 1)")
        }
        if rotation.keep > 0 { rename(path, "\(path).1") } else { unlink(path) }
        unlink("\(path).\(rotation.keep + 1)")
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .output(path: path, reason: String(cString: strerror(errno))) }
        size = 0
    }

    deinit { close() }

    public func append(_ line: String) throws(DaemonError) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        lock.lock()
        defer { lock.unlock() }
        if let rotation, size > 0, size + bytes.count > rotation.maxBytes { try rotate() }
        size += bytes.count
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .output(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    /// Forces written lines to the disk (used at shutdown).
    public func sync() {
        lock.lock()
        defer { lock.unlock() }
        if descriptor >= 0 { fsync(descriptor) }
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
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
}
