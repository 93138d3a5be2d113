import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The live progress line (on a terminal) and the final report.
struct Progress {
    let started = Date()
    private var lastShown = Date()
    private let live = isatty(2) != 0
    var sent = 0
    var errors = 0

    mutating func tick(force: Bool = false) {
        // Reading the clock per message costs more than the check: look every 256.
        guard force || (sent + errors) & 255 == 0 else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastShown) >= 1 else { return }
        lastShown = now
        let elapsed = now.timeIntervalSince(started)
        let line = String(
            format: "sent %d, errors %d, %.0f msg/s, %.0fs", sent, errors, Double(sent) / max(elapsed, 1e-3), elapsed)
        FileHandle.standardError.write(Data((live ? "\r\(line)   " : line + "\n").utf8))
    }

    func report(_ what: String) {
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
        let elapsed = Date().timeIntervalSince(started)
        print(
            String(
                format: "parksim %@: sent %d messages in %.2fs (%.0f msg/s), %d errors", what as NSString, sent,
                elapsed,
                Double(sent) / max(elapsed, 1e-6), errors))
    }
}
