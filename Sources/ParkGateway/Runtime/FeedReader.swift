import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// A feed file's lines, read in place: the file is mapped into memory and each line handed
/// out as a view of the mapping, so no line is copied before it is parsed; parsed pages are
/// given back as it goes. A feed that is not a regular file (a pipe) is read into memory first.
package final class FeedReader {
    package let path: String
    private let base: UnsafeMutableRawPointer?
    private let size: Int
    /// Whether `base` is a mapping (else memory of our own).
    private let mapped: Bool
    private var offset = 0
    /// Bytes from the start already given back to the kernel (`releaseRead`).
    private var released = 0
    private(set) var lineNumber = 0

    package init(path: String) throws(DaemonError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .input(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .input(path: path, reason: String(cString: strerror(errno))) }
        if info.st_mode & S_IFMT == S_IFREG {
            size = Int(info.st_size)
            mapped = true
            guard size > 0 else {
                base = nil
                return
            }
            guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
                throw .input(path: path, reason: "cannot map the file: " + String(cString: strerror(errno)))
            }
            // Read front to back once: the kernel may read ahead and drop pages behind.
            _ = madvise(map, size, MADV_SEQUENTIAL)
            base = map
        } else {
            var buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
            var capacity = 1 << 20
            var count = 0
            while true {
                if count == capacity {
                    let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                    grown.copyMemory(from: buffer, byteCount: count)
                    buffer.deallocate()
                    buffer = grown
                    capacity *= 2
                }
                let n = read(fd, buffer + count, capacity - count)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else {
                    buffer.deallocate()
                    throw .input(path: path, reason: String(cString: strerror(errno)))
                }
                if n == 0 { break }
                count += n
            }
            base = buffer
            size = count
            mapped = false
        }
    }

    deinit {
        guard let base else { return }
        if mapped { munmap(base, size) } else { base.deallocate() }
    }

    /// Gives back the pages of every line handed out so far: their views must no longer be
    /// used. A mapping's pages count as resident while mapped, so without this a replay's RSS
    /// would grow by the size of the feed.
    package func releaseRead() {
        guard mapped, let base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let end = offset / page * page
        guard end > released else { return }
        _ = madvise(base + released, end - released, MADV_DONTNEED)
        released = end
    }

    /// The next line without its newline (and carriage return), as a view valid while this
    /// reader lives; nil at the end of the file.
    package func nextLine() -> UnsafeBufferPointer<UInt8>? {
        guard let base, offset < size else { return nil }
        let start = base.assumingMemoryBound(to: UInt8.self) + offset
        let rest = size - offset
        let end: Int
        if let newline = memchr(start, 0x0A, rest) {
            end = start.distance(to: newline.assumingMemoryBound(to: UInt8.self))
            offset += end + 1
        } else {
            end = rest
            offset = size
        }
        lineNumber += 1
        var count = end
        while count > 0 && (start[count - 1] == 0x0A || start[count - 1] == 0x0D) { count -= 1 }
        return UnsafeBufferPointer(start: start, count: count)
    }
}
