#if canImport(Glibc)
    import Glibc
#endif

/// A pipe the network thread polls beside its socket. A publish from another thread that
/// leaves bytes unwritten (the socket's buffer was full) signals it, so the loop wakes to
/// write them rather than at its next timeout. libmosquitto's own wake-up, a byte on a socket
/// pair for every packet queued, is not polled: read back one byte per `mosquitto_loop`, it
/// cost a select and a read per QoS 1 acknowledgement.
final class LoopWaker: Sendable {
    /// The end polled; -1 when the kernel gave no pipe (the engine then runs `mosquitto_loop`).
    let fd: Int32
    private let writeEnd: Int32

    init() {
        var ends: (Int32, Int32) = (-1, -1)
        let made = withUnsafeMutableBytes(of: &ends) { pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self)) } == 0
        for end in [ends.0, ends.1] where made {
            // Never blocks: a full pipe already holds a signal; closed in a child process.
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        fd = made ? ends.0 : -1
        writeEnd = made ? ends.1 : -1
    }

    deinit {
        if fd >= 0 { close(fd) }
        if writeEnd >= 0 { close(writeEnd) }
    }

    func signal() {
        guard writeEnd >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Takes the signals so far.
    func clear() {
        guard fd >= 0 else { return }
        var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        while withUnsafeMutableBytes(of: &bytes, { read(fd, $0.baseAddress, $0.count) }) == 32 {}
    }
}
