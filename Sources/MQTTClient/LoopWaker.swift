import CMosquitto

#if canImport(Glibc)
    import Glibc
#endif

/// An eventfd the network thread polls beside its socket. In threaded mode libmosquitto
/// leaves every packet to that thread to write; a publish from another thread signals the
/// eventfd, so the loop wakes to write it rather than at its next timeout. libmosquitto's own
/// wake-up, a byte on a socket pair for every packet queued (acknowledgements included), is
/// not polled: read back one byte per `mosquitto_loop`, it cost a select and a read per QoS 1
/// message.
final class LoopWaker: Sendable {
    let fd: Int32

    /// Non-blocking, and closed on exec from the start: a process another thread spawns
    /// meanwhile does not inherit it. Nil when the kernel gives none (the engine then runs
    /// `mosquitto_loop`).
    init?() {
        fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Takes every signal so far (the count goes back to zero).
    func clear() {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
    }
}
