import CMosquitto
import Foundation

/// Whether a broker address answers a TCP handshake in time, before libmosquitto is handed it.
enum TCPProbe {
    /// A TCP connection to `url` within `timeout` seconds, closed at once: libmosquitto's own
    /// connect blocks for as long as the kernel retries a handshake nobody answers (about two
    /// minutes), which would hold the loop, and stop with it. nil when the address answers.
    static func check(_ url: BrokerURL, timeout: Double) -> MQTTError? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(url.host, String(url.port), &hints, &list)
        guard lookup == 0, let first = list else {
            // Let libmosquitto meet (and report) the same lookup failure.
            return nil
        }
        defer { freeaddrinfo(list) }
        var problem = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return nil }
            guard errno == EINPROGRESS else {
                problem = String(cString: strerror(errno))
                continue
            }
            // Each address gets the whole timeout: a dead first one (an IPv6 route, a down A
            // record) must not use up the time of the next. A signal does not end the wait.
            let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat {
                let left = deadline - ContinuousClock.now
                let milliseconds = max(
                    0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                ready = poll(&descriptor, 1, milliseconds)
            } while ready < 0 && errno == EINTR
            if ready <= 0 {
                problem = "no answer within \(timeout)s (connect_timeout)"
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return nil }
            problem = String(cString: strerror(error))
        }
        return .library(
            call: "connect to \(url)", code: MOSQ_ERR_ERRNO.rawValue, message: problem, detail: nil)
    }
}
