import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// A feed's lines, read in large chunks and handed out in place: each line is a view of the
/// reader's buffer, so no line is copied before it is parsed. Views stay valid until
/// `releaseRead()`; a buffer that fills while views into it are out is kept until then. Plain
/// `read` rather than a mapping: a feed that shrinks while it is replayed ends early instead of
/// killing the process (SIGBUS), a pipe streams in bounded memory, and what is appended while
/// it runs is read, as with `getline`.
package final class FeedReader {
    package let path: String
    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    /// The next unread byte, and the end of what the buffer holds.
    private var next = 0
    private var filled = 0
    private var atEnd = false
    /// Buffers replaced while views into them may still be out (released by `releaseRead`).
    private var retired: [UnsafeMutableRawBufferPointer] = []
    /// Released chunk-sized buffers, the next refills': reading a feed then allocates as
    /// many chunks as one batch of views spans, plus one, not one per chunk read. At most
    /// `maxSpares` are kept (8 MiB, a replay batch's byte cap): a batch that spanned more (a
    /// run of blank lines counts toward no cap) does not hold its peak to the end.
    private var spares: [UnsafeMutableRawBufferPointer] = []
    static let maxSpares = 32
    /// Buffers kept for reuse now (for tests).
    var spareCount: Int { spares.count }
    /// Buffers allocated so far (the first included).
    private(set) var allocations = 1
    private(set) var lineNumber = 0
    /// 256 KiB: a chunk is parsed while what `read` copied is still in the core's own cache
    /// (1 MiB of L2 on the benchmark's EPYC); a 4 MiB chunk had left it before its first
    /// lines were parsed, and the reading thread took 5 % more CPU.
    static let chunk = 256 << 10

    package init(path: String) throws(DaemonError) {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .input(path: path, reason: String(cString: strerror(errno))) }
        buffer = .allocate(byteCount: Self.chunk, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        for old in spares { old.deallocate() }
        for old in retired { old.deallocate() }
        close(fd)
    }

    /// Releases the buffers of lines handed out before: their views must no longer be used.
    /// Chunk-sized buffers are kept for the next refills (up to `maxSpares`), larger ones (a
    /// long line's) freed.
    package func releaseRead() {
        for old in retired {
            if old.count == Self.chunk && spares.count < Self.maxSpares {
                spares.append(old)
            } else {
                old.deallocate()
            }
        }
        retired.removeAll(keepingCapacity: true)
    }

    /// The next line without its newline (and carriage return), as a view valid until
    /// `releaseRead()`; nil at the end of the file.
    package func nextLine() -> UnsafeBufferPointer<UInt8>? {
        while true {
            let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var line: (start: Int, count: Int)?
            if let newline = memchr(base + next, 0x0A, filled - next) {
                let end = (base + next).distance(to: newline.assumingMemoryBound(to: UInt8.self)) + next
                line = (next, end - next)
                next = end + 1
            } else if atEnd {
                guard next < filled else { return nil }
                line = (next, filled - next)
                next = filled
            }
            if let (start, length) = line {
                lineNumber += 1
                var count = length
                while count > 0 && base[start + count - 1] == 0x0D { count -= 1 }  // CRLF endings (the LF is out)
                return UnsafeBufferPointer(start: base + start, count: count)
            }
            refill()
        }
    }

    /// Reads more, after what the buffer holds while it has room (views before it stay
    /// intact). A full buffer's partial line moves to a fresh buffer (twice as large when one
    /// line fills it), and the old one is kept for the views still out.
    private func refill() {
        let partial = filled - next
        if filled == buffer.count {
            let size = max(Self.chunk, partial * 2)
            let fresh: UnsafeMutableRawBufferPointer
            if size == Self.chunk, let reused = spares.popLast() {
                fresh = reused
            } else {
                fresh = .allocate(byteCount: size, alignment: 16)
                allocations += 1
            }
            fresh.baseAddress!.copyMemory(from: buffer.baseAddress! + next, byteCount: partial)
            retired.append(buffer)
            buffer = fresh
            next = 0
            filled = partial
        }
        while true {
            let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if n < 0 && errno == EINTR { continue }
            // A read error ends the feed like its end: what was read is replayed.
            if n <= 0 { atEnd = true } else { filled += n }
            return
        }
    }
}
