import Logging
import TelemetryCore
import UplinkWire

/// Logs rejected input with its topic and reason, at most `burst` lines per reason per
/// minute, then says how many it left out: a flood of bad payloads cannot flood the log.
package struct BadInputLog {
    package let logger: Logger
    package let burst: Int
    private var windowStart: Int64?
    private var logged: [String: Int] = [:]
    private var suppressed: [String: Int] = [:]

    package init(logger: Logger, burst: Int = 10) {
        self.logger = logger
        self.burst = burst
    }

    /// `detail` may quote the wire (a payload excerpt, a status text): it is escaped here, once,
    /// so that no sender can write a line of its own into the journal or a terminal.
    /// `detail` is built only for the lines that are logged: a flood costs no string building.
    package mutating func record(_ reason: String, topic: String, detail: () -> String, nowMilliseconds: Int64) {
        if windowStart.map({ nowMilliseconds - $0 >= 60_000 || nowMilliseconds < $0 }) ?? true {
            flushSuppressed()
            windowStart = nowMilliseconds
            logged.removeAll(keepingCapacity: true)
        }
        let count = logged[reason, default: 0]
        guard count < burst else {
            suppressed[reason, default: 0] += 1
            return
        }
        logged[reason] = count + 1
        logger.warning(
            "rejected message: \(LogSafe.text(detail(), limit: 400))",
            metadata: ["reason": "\(reason)", "topic": "\(LogSafe.text(topic))"])
    }

    package mutating func flushSuppressed() {
        for (reason, count) in suppressed.sorted(by: { $0.key < $1.key }) where count > 0 {
            logger.warning(
                "\(count) more rejected messages not logged in the last minute",
                metadata: ["reason": "\(reason)"])
        }
        suppressed.removeAll(keepingCapacity: true)
    }
}
