import CMosquitto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The network thread: connect, run the loop until the connection ends, reconnect with
/// backoff, and leave in order at stop. Over plain TCP the loop polls the socket and the
/// `LoopWaker`, not libmosquitto's socket pair, then reads, writes and keeps alive through
/// libmosquitto's external-loop calls (`mosquitto_loop_read`, `_write`, `_misc`), as
/// `mosquitto_loop` does; over TLS it runs `mosquitto_loop`.
extension MosquittoEngine {
    func run() {
        while !stopRequested.load(ordering: .relaxed) {
            lastLogError.withLock { $0 = nil }
            refused = false
            installLogCallback(true)
            if let unreachable = TCPProbe.check(currentURL, timeout: configuration.connectTimeout) {
                recordFailure(unreachable)
                if sleepBeforeRetry(roundDone: rotate()) { break }
                continue
            }
            let rc = connectOnce()
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                let failure = MQTTError.library(
                    call: "connect to \(currentURL)", code: rc, message: Self.describe(rc),
                    detail: lastLogError.withLock { $0 })
                recordFailure(failure)
                if sleepBeforeRetry(roundDone: rotate()) { break }
                continue
            }
            watchdogMark = (received.load(ordering: .relaxed), .now)
            let own = waker
            var loopRC = MOSQ_ERR_SUCCESS.rawValue
            while !stopRequested.load(ordering: .relaxed) {
                let before = received.load(ordering: .relaxed)
                loopRC = own.map { pollOnce($0) } ?? mosquitto_loop(mosq, 200, 1)
                if loopRC != MOSQ_ERR_SUCCESS.rawValue { break }
                loopRC = drain(since: before)
                if loopRC != MOSQ_ERR_SUCCESS.rawValue { break }
                checkWatchdog()
            }
            if stopRequested.load(ordering: .relaxed) { break }
            connectionEnded(rc: loopRC)
            if retrySameAddress {
                // It refused MQTT 5 only: the same address again, in 3.1.1, at once.
                retrySameAddress = false
                continue
            }
            // A refused CONNECT or a lost connection: the next address, if there is one.
            if sleepBeforeRetry(roundDone: rotate()) { break }
        }
        shutDownConnection()
    }

    func connectOnce() -> Int32 {
        let c = configuration
        let v5 = speaksV5
        if c.protocolVersion == .auto {
            // Cannot fail: the option and its values are checked when the handle is made.
            try? setVersion(v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311)
        }
        if v5 {
            var properties: OpaquePointer? = nil
            if !c.cleanSession {
                mosquitto_property_add_int32(
                    &properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), c.sessionExpiry)
            }
            defer { mosquitto_property_free_all(&properties) }
            let url = currentURL
            return mosquitto_connect_bind_v5(mosq, url.host, Int32(url.port), Int32(c.keepAlive), nil, properties)
        }
        let url = currentURL
        return mosquitto_connect(mosq, url.host, Int32(url.port), Int32(c.keepAlive))
    }

    /// Returns true when stop was requested during the wait. Within a round of addresses the
    /// next one is tried at once (a short pause); after a whole round, the backoff applies.
    private func sleepBeforeRetry(roundDone: Bool = true) -> Bool {
        let delay: Double
        if roundDone {
            delay = configuration.reconnect.delay(attempt: attempt)
            attempt += 1
        } else {
            delay = min(configuration.reconnect.initial, 0.1)
        }
        logger.debug("reconnecting to \(currentURL) in \(delay)s")
        _ = wake.wait(timeout: .now() + delay)
        if stopRequested.load(ordering: .relaxed) { return true }
        reconnects.add(1, ordering: .relaxed)
        return false
    }

    private func connectionEnded(rc: Int32) {
        let wasConnected = setConnected(false)
        let reason = Self.describe(rc)
        let detail = lastLogError.withLock { $0 }
        if refused { return }
        if Self.isFatalToLibraryLoop(rc) {
            // libmosquitto's own loop_forever gives up on these; we restart it after a backoff.
            loopRestarts.add(1, ordering: .relaxed)
            let text = detail.map { "\(reason): \($0)" } ?? reason
            logger.error("MQTT network loop ended on an error; restarting it", metadata: ["reason": "\(text)"])
            onEvent(.loopRestarted(reason: text))
            let failure = MQTTError.library(call: "network loop", code: rc, message: reason, detail: detail)
            recordFailure(failure, quiet: true)
        } else if wasConnected {
            logger.warning("lost the connection to \(currentURL)", metadata: ["reason": "\(reason)"])
            onEvent(.disconnected(reason: reason))
        }
    }

    private func shutDownConnection() {
        if isConnected { leaveInOrder() }
        if setConnected(false) { onEvent(.disconnected(reason: "client stopped")) }
        publishGate.broadcast()
    }

    /// Cuts the connection at once, no DISCONNECT: an acknowledgement libmosquitto queued but
    /// has not written yet never leaves, so the broker delivers that message to the session
    /// again. For a message handler that could not finish (its store is away and it is told
    /// to stop).
    func abortConnection() {
        let fd = mosquitto_socket(mosq)
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// A graceful stop that loses nothing and duplicates nothing with a persistent session:
    /// reading stops (what was not taken is not acknowledged, so the broker keeps it), every
    /// acknowledgement already queued is written, then DISCONNECT. Closing a socket that still
    /// holds unread messages makes the kernel reset the connection, and the broker then drops
    /// the acknowledgements it had not read yet and sends those messages again. So on plain
    /// TCP parkd half-closes after DISCONNECT and reads (and discards, unacknowledged) until the
    /// broker closes; over TLS, where bytes cannot be written around libmosquitto, it gives
    /// the broker a moment to read the acknowledgements before libmosquitto disconnects.
    private func leaveInOrder() {
        let deadline = ContinuousClock.now + .seconds(3)
        while mosquitto_want_write(mosq), ContinuousClock.now < deadline {
            leavePasses.add(1, ordering: .relaxed)
            // Wait until the socket takes bytes: libmosquitto's write reports success when it
            // would block, so retrying at once spun a core for the whole 3 s while a broker
            // was not reading.
            let socket = mosquitto_socket(mosq)
            if socket >= 0 {
                var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&descriptor, 1, 100)
                if ready < 0 && errno != EINTR { break }
                if ready <= 0 { continue }
            }
            if mosquitto_loop_write(mosq, 1) != MOSQ_ERR_SUCCESS.rawValue { break }
        }
        let fd = mosquitto_socket(mosq)
        if !plainTCP || fd < 0 {
            Thread.sleep(forTimeInterval: 0.2)
            mosquitto_disconnect(mosq)
            for _ in 0..<20 where mosquitto_loop(mosq, 50, 1) == MOSQ_ERR_SUCCESS.rawValue {}
            return
        }
        // A packet still half written (the broker stopped reading): two raw bytes now would land
        // inside it; libmosquitto queues its DISCONNECT behind it instead.
        guard !mosquitto_want_write(mosq) else {
            mosquitto_disconnect(mosq)
            return
        }
        // DISCONNECT, reason 0 (normal; the session is kept): the same two bytes in 3.1.1 and 5.
        let disconnect: [UInt8] = [0xE0, 0x00]
        let sent = disconnect.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == disconnect.count else {
            // Nothing went: libmosquitto's DISCONNECT. One byte went: the stream is cut, not garbled.
            if sent == 1 { shutdown(fd, Int32(SHUT_RDWR)) } else { mosquitto_disconnect(mosq) }
            return
        }
        shutdown(fd, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) >= 0 else { break }
            if descriptor.revents == 0 { continue }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { break }  // the broker closed: everything before DISCONNECT was read
            if count < 0 && errno != EAGAIN && errno != EINTR { break }
        }
    }

    /// Runs after every pass of the network loop. While messages flow it only compares a
    /// counter (no clock, no lock: it runs once a message); silence is timed from the first
    /// pass that sees no new message, at most one loop timeout (200 ms) after the last one.
    private func checkWatchdog() {
        guard let timeout = configuration.watchdogTimeout else { return }
        let count = received.load(ordering: .relaxed)
        if count != watchdogMark.count {
            watchdogMark = (count, nil)
            return
        }
        guard isConnected else { return }
        let now = ContinuousClock.now
        guard let since = watchdogMark.at else {
            watchdogMark.at = now
            return
        }
        let silent = now - since
        if silent > .seconds(timeout) {
            let seconds = Double(silent.components.seconds) + Double(silent.components.attoseconds) / 1e18
            logger.warning(
                "no message for \(Int(seconds))s on a live connection; recycling it and re-subscribing")
            watchdogRecycles.add(1, ordering: .relaxed)
            resubscribeOnConnect = true
            watchdogMark = (count, now)
            onEvent(.watchdogRecycled(silentSeconds: seconds))
            mosquitto_disconnect(mosq)
        }
    }

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
            // (A client with its own QoS 1 publishes in flight may take several packets in one
            // read, libmosquitto 2.0's rule; their acknowledgements then go out together.)
            if mosquitto_want_write(mosq) {
                rc = mosquitto_loop_write(mosq, 1)
                if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
            }
        }
        drainSkips = received.load(ordering: .relaxed) == start ? 15 : 0
        return MOSQ_ERR_SUCCESS.rawValue
    }
}
