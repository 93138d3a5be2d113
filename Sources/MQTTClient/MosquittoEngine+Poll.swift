import CMosquitto

#if canImport(Glibc)
    import Glibc
#endif

/// The network thread's pass over plain TCP: it polls the socket and the `LoopWaker`, not
/// libmosquitto's socket pair, then reads, writes and keeps alive through libmosquitto's
/// external-loop calls (`mosquitto_loop_read`, `_write`, `_misc`), as `mosquitto_loop` does.
extension MosquittoEngine {
    /// One pass: waits up to 200 ms (the loop's stop and watchdog checks come round at least
    /// that often), reads what came (`mosquitto_loop_read` takes one packet, more while QoS 1
    /// ones are queued), writes what is queued, keeps alive.
    func pollOnce(_ waker: LoopWaker) -> Int32 {
        let sock = mosquitto_socket(mosq)
        guard sock >= 0 else { return MOSQ_ERR_NO_CONN.rawValue }
        let wants = Int16(POLLIN) | (mosquitto_want_write(mosq) ? Int16(POLLOUT) : 0)
        let (ready, woken) = withUnsafeTemporaryAllocation(of: pollfd.self, capacity: 2) { fds in
            fds[0] = pollfd(fd: sock, events: wants, revents: 0)
            fds[1] = pollfd(fd: waker.fd, events: Int16(POLLIN), revents: 0)
            let count = poll(fds.baseAddress, 2, 200)
            return count < 0 ? (Int16(-1), false) : (fds[0].revents, fds[1].revents != 0)
        }
        if ready < 0 { return errno == EINTR ? MOSQ_ERR_SUCCESS.rawValue : MOSQ_ERR_ERRNO.rawValue }
        if woken { waker.clear() }
        if ready & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            let rc = mosquitto_loop_read(mosq, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(mosq) < 0 { return rc }
        }
        // Writable or not: a write the socket cannot take returns at once, and is retried on POLLOUT.
        if mosquitto_want_write(mosq) {
            let rc = mosquitto_loop_write(mosq, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue || mosquitto_socket(mosq) < 0 { return rc }
        }
        return mosquitto_loop_misc(mosq)
    }

    /// Reads on while each read delivers a message: a backlog is taken without a select per
    /// message (`mosquitto_loop` reads one packet per select at QoS 0). At most 64 reads, so
    /// the loop's keep-alive and writes still come round; the read that finds the socket empty
    /// returns at once and ends it. When that first extra read finds nothing (QoS 1's
    /// acknowledgements pace the broker to a message per wake), it is a wasted call: the next
    /// 15 wakes do not try.
    func drain(since before: UInt64) -> Int32 {
        let start = received.load(ordering: .relaxed)
        guard start != before else { return MOSQ_ERR_SUCCESS.rawValue }
        if drainSkips > 0 {
            drainSkips -= 1
            return MOSQ_ERR_SUCCESS.rawValue
        }
        var last = before
        for _ in 0..<64 {
            let now = received.load(ordering: .relaxed)
            guard now != last, !stopRequested.load(ordering: .relaxed) else { break }
            last = now
            var rc = mosquitto_loop_read(mosq, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
            // The acknowledgement of what was just handled goes out now, not after the whole
            // read-on: a handler that then blocks (a store away) must not hold earlier ones back.
            if mosquitto_want_write(mosq) {
                rc = mosquitto_loop_write(mosq, 1)
                if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
            }
        }
        drainSkips = received.load(ordering: .relaxed) == start ? 15 : 0
        return MOSQ_ERR_SUCCESS.rawValue
    }
}
