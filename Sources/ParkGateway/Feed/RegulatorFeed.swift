import Foundation
import Logging
import ParkConfig
import Synchronization
import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// The regulator feed's writer and uploader. The summary loop hands it each closed cycle; it
/// writes the cycle's file into the spool (a failed write, such as a full disk, keeps the
/// file in memory and retries every second, in order). A thread of its own pushes pending
/// files to the authority's FTP server, oldest first, with curl (FTP, or FTP with explicit
/// TLS): on a failure it stops and tries again after a backoff, so files arrive in order and
/// none is skipped. Nothing leaves `pending/` before the server took it.
public final class RegulatorFeed: Sendable {
    package struct Status: Sendable, Equatable {
        package var written = 0
        package var writeErrors = 0
        /// Cycles whose file existed already (readings for a cycle written before a restart).
        package var rewritesRefused = 0
        /// Files that could not be written yet (held in memory, retried).
        package var unwritten = 0
        package var uploaded = 0
        package var uploadFailures = 0
        package var pending = 0
        /// Seconds since the end of the oldest cycle still pending.
        package var oldestPendingSeconds = 0.0
        package var lastError: String?
        /// A file is held in memory because the disk refused it.
        package var writeFailing = false
        /// The last upload failed and none has succeeded since.
        package var uploadFailing = false
        package var failing: Bool { writeFailing || uploadFailing }
    }

    private struct State {
        var status = Status()
        var unwritten: [(path: String, text: String)] = []
        var stopping = false
        var running: Process?
    }

    package let configuration: RegulatorFeedConfiguration
    private let spool: FeedSpool
    private let logger: Logger
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// At most this many files wait in memory for a disk that refuses them (two days of a
    /// 5-minute cycle for ten stations); past it the oldest go, counted and logged.
    static let maxUnwritten = 10 * 2 * 288

    public init(configuration: RegulatorFeedConfiguration, logger: Logger) {
        self.configuration = configuration
        spool = FeedSpool(root: configuration.directory)
        self.logger = logger
    }

    package var status: Status { state.withLock { $0.status } }

    /// Writes the closed cycles' files (and any held back before), in order.
    package func write(_ cycles: [FeedCycle]) {
        let format = configuration.format
        let wrote = state.withLock { s -> Bool in
            for cycle in cycles {
                s.unwritten.append((format.relativePath(station: cycle.station, end: cycle.end), format.text(cycle)))
            }
            if s.unwritten.count > Self.maxUnwritten {
                let dropped = s.unwritten.count - Self.maxUnwritten
                s.unwritten.removeFirst(dropped)
                s.status.writeErrors += dropped
                logger.error("regulator feed: \(dropped) cycle files dropped, the disk refused them for too long")
            }
            var wrote = false
            while let next = s.unwritten.first {
                do {
                    if try spool.write(relativePath: next.path, text: next.text) {
                        s.status.written += 1
                    } else {
                        s.status.rewritesRefused += 1
                        logger.warning("regulator feed: \(next.path) was written before (a restart); not replaced")
                    }
                } catch {
                    if !s.status.writeFailing || s.status.lastError != "\(error)" {
                        logger.error("regulator feed: cannot write \(next.path): \(error); kept in memory, retried")
                    }
                    s.status.writeErrors += 1
                    s.status.lastError = "\(error)"
                    s.status.writeFailing = true
                    break
                }
                s.unwritten.removeFirst()
                wrote = true
            }
            s.status.unwritten = s.unwritten.count
            if s.unwritten.isEmpty { s.status.writeFailing = false }
            return wrote
        }
        if wrote { wake.signal() }
    }

    /// Starts the uploader's thread.
    package func start() {
        let thread = Thread { [self] in
            uploadLoop()
            stopped.signal()
        }
        thread.name = "parkd-feed"
        thread.start()
    }

    /// Stops the uploader: a transfer under way is cut (its file stays pending and goes again).
    package func stop() {
        let running = state.withLock { s -> Process? in
            s.stopping = true
            return s.running
        }
        running?.terminate()
        wake.signal()
        _ = stopped.wait(timeout: .now() + 10)
    }

    private func uploadLoop() {
        var failures = 0
        var lastPrune: EventTime?
        while !state.withLock({ $0.stopping }) {
            let now = WallClock.now()
            if lastPrune.map({ now.milliseconds - $0.milliseconds >= 3_600_000 }) ?? true {
                let removed = spool.prune(
                    keepDays: configuration.keepDays, now: now, calendar: configuration.format.calendar)
                if removed > 0 {
                    logger.info(
                        "regulator feed: removed \(removed) day folders older than \(configuration.keepDays) days")
                }
                lastPrune = now
            }
            var files = spool.pendingFiles()
            note(pending: files, now: now)
            var failed = false
            if let upload = configuration.upload {
                while !files.isEmpty, !state.withLock({ $0.stopping }) {
                    // One login for up to `batch` files: a server's login can take seconds.
                    let batch = Array(files.prefix(Self.batch))
                    let (sent, error) = send(batch, upload: upload)
                    for file in batch.prefix(sent) { spool.sent(file) }
                    files.removeFirst(sent)
                    if sent > 0 {
                        failures = 0
                        state.withLock { s in
                            s.status.uploaded += sent
                            s.status.uploadFailing = false
                        }
                    }
                    note(pending: files, now: WallClock.now())
                    if let error {
                        failures += 1
                        let file = batch[sent]
                        state.withLock { s in
                            if !s.status.uploadFailing || s.status.lastError != error {
                                logger.error(
                                    "regulator feed: upload of \(file) failed: \(error); retrying, oldest first")
                            }
                            s.status.uploadFailures += 1
                            s.status.lastError = error
                            s.status.uploadFailing = true
                        }
                        failed = true
                        break
                    }
                }
            }
            // After a failure wait 1, 2, 4 … `retry` s; otherwise until a file is written (or 10 s).
            let longest = configuration.upload?.retrySeconds ?? 60
            let pause = failed ? min(longest, pow(2, Double(min(failures, 10) - 1))) : 10
            _ = wake.wait(timeout: .now() + pause)
        }
    }

    private func note(pending files: [String], now: EventTime) {
        let oldest = files.first.flatMap { configuration.format.time(ofStamp: FeedSpool.stamp($0)) }.map {
            max(0, Double(now.milliseconds - $0.milliseconds) / 1000)
        }
        state.withLock { s in
            s.status.pending = files.count
            s.status.oldestPendingSeconds = oldest ?? 0
        }
    }

    /// Files per curl run (one connection, one login).
    static let batch = 500

    /// Files to the server in order, over one connection, with curl: how many the server took
    /// (from the first), and why the next one failed. curl stops at the first failure
    /// (`--fail-early`), so a file is never sent before an older one. Each file is stored as
    /// `NAME.part` and renamed to its name once whole: the authority's poller never sees a
    /// half-sent file under a name it takes. A file already there (sent before a reply was
    /// lost) is deleted first, as some servers refuse to rename over one. The transfers are
    /// written as a curl configuration on curl's standard input, so that the password is never
    /// on its command line.
    private func send(_ files: [String], upload: RegulatorFeedConfiguration.Upload) -> (sent: Int, error: String?) {
        guard let curl = ["/usr/bin/curl", "/usr/local/bin/curl"].first(where: FileManager.default.isExecutableFile)
        else { return (0, "curl is not installed (apt-get install curl)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: curl)
        // Global options; each transfer's own are in the configuration.
        process.arguments = ["--disable", "--silent", "--show-error", "--fail-early", "--config", "-"]
        let configuration = Self.curlConfiguration(files, pending: spool.pending, upload: upload)
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            return (0, "cannot start curl: \(error)")
        }
        state.withLock { $0.running = process }
        defer { state.withLock { $0.running = nil } }
        // Hundreds of kilobytes for a long backlog: more than a pipe holds, so this waits for
        // curl to read it, and fails (not traps) if `stop` ended curl meanwhile.
        try? input.fileHandleForWriting.write(contentsOf: Data(configuration.utf8))
        try? input.fileHandleForWriting.close()
        // Small outputs: one line per transfer on stdout, a message on stderr.
        let codes = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let sent = Self.sentCount(codes)
        guard sent >= files.count else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (
                min(sent, files.count), "curl exited \(process.terminationStatus)" + (text.isEmpty ? "" : ": \(text)")
            )
        }
        return (sent, nil)
    }

    /// The curl configuration for `files` (paths relative to `pending`): one transfer each,
    /// separated by `next`, which resets every per-transfer option, so each repeats them.
    /// The commands after a transfer (`quote = "-…"`) run in the file's folder on the server.
    static func curlConfiguration(
        _ files: [String], pending: String, upload: RegulatorFeedConfiguration.Upload
    ) -> String {
        var text = ""
        for (index, file) in files.enumerated() {
            if index > 0 { text += "next\n" }
            let name = file.split(separator: "/").last.map(String.init) ?? file
            let folder = file.dropLast(name.count)
            text += "url = \(quoted(upload.url + "/" + folder + name + partSuffix))\n"
            text += "upload-file = \(quoted(pending + "/" + file))\n"
            text += "ftp-create-dirs\n"
            text += "connect-timeout = \(Int(min(upload.timeoutSeconds, 30)))\n"
            text += "max-time = \(Int(upload.timeoutSeconds))\n"
            text += "write-out = \"%{exitcode} %{response_code}\\n\"\n"
            if upload.tls {
                text += "ssl-reqd\n"
                if let ca = upload.caFile { text += "cacert = \(quoted(ca))\n" }
            }
            if let user = upload.username {
                text += "user = \(quoted(user + ":" + (upload.password?.value ?? "")))\n"
            }
            // `*`: a missing file is no failure.
            text += "quote = \(quoted("-*DELE " + name))\n"
            text += "quote = \(quoted("-RNFR " + name + partSuffix))\n"
            text += "quote = \(quoted("-RNTO " + name))\n"
        }
        return text
    }

    /// How many transfers, from the first, curl finished: its output has one line per transfer,
    /// `EXIT REPLY`. Only exit 0 counts: the last reply alone (226 for the store, 250 for the
    /// rename) also reads as a success when the connection dropped after the store, with
    /// the file still under its `.part` name.
    static func sentCount(_ output: String) -> Int {
        output.split(separator: "\n").prefix { $0.split(separator: " ").first == "0" }.count
    }

    /// What a file is called on the server until it is whole.
    static let partSuffix = ".part"

    /// A value of a curl configuration: in quotes, with the escapes its parser reads back
    /// (a line break would otherwise end the value, and the rest be read as an option).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(character)
            }
        }
        return out + "\""
    }
}
