import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real mosquitto broker on a free loopback port, with a configuration generated for the
/// test at hand, stopped when the test is done with it.
public final class Broker: @unchecked Sendable {
    public struct Options: Sendable {
        /// Serve TLS with this material instead of plain TCP.
        public var tls: TLSMaterial?
        /// Require these username/password pairs (written with mosquitto_passwd).
        public var users: [String: String]
        /// Extra lines for mosquitto.conf.
        public var extraConfiguration: [String]

        public init(tls: TLSMaterial? = nil, users: [String: String] = [:], extraConfiguration: [String] = []) {
            self.tls = tls
            self.users = users
            self.extraConfiguration = extraConfiguration
        }
    }

    public private(set) var port: Int
    public let directory: URL
    public let options: Options
    private var process: ChildProcess?

    public var url: String { "\(options.tls == nil ? "mqtt" : "mqtts")://127.0.0.1:\(port)" }
    public var logFile: URL { directory.appendingPathComponent("mosquitto.log") }

    public init(_ options: Options = Options()) throws {
        self.options = options
        directory = try Scratch.makeDirectory(prefix: "broker")
        port = try FreePort.pick()
        // Another process can still take the port between the pick and mosquitto's bind:
        // then it is tried again on a fresh port, never reported as a failure of the test.
        for attempt in 1...5 {
            try writeConfiguration()
            do {
                try start()
                return
            } catch let error as HarnessError where attempt < 5 && error.description.contains("in use") {
                port = try FreePort.pick()
            }
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func writeConfiguration() throws {
        var lines = [
            "listener \(port) 127.0.0.1",
            "persistence false",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",
            "log_dest file \(logFile.path)",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        // mosquitto drops root to the 'mosquitto' user, which could not read our files.
        if geteuid() == 0 { lines.append("user root") }
        if options.users.isEmpty {
            lines.append("allow_anonymous true")
        } else {
            let passwordFile = directory.appendingPathComponent("passwd")
            _ = FileManager.default.createFile(atPath: passwordFile.path, contents: Data())
            for (user, password) in options.users.sorted(by: { $0.key < $1.key }) {
                try Command.run(Command.find("mosquitto_passwd"), ["-b", passwordFile.path, user, password])
            }
            lines += ["allow_anonymous false", "password_file \(passwordFile.path)"]
        }
        if let tls = options.tls {
            lines += ["cafile \(tls.caFile)", "certfile \(tls.serverCertFile)", "keyfile \(tls.serverKeyFile)"]
        }
        lines += options.extraConfiguration
        try (lines.joined(separator: "\n") + "\n").write(
            to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
    }

    /// Starts (or restarts) the broker on the same port and waits until it accepts connections.
    public func start() throws {
        guard process == nil else { return }
        let process = try ChildProcess(
            try Command.find("mosquitto"), ["-c", directory.appendingPathComponent("mosquitto.conf").path],
            outputPath: directory.appendingPathComponent("stderr.log").path)
        self.process = process
        switch process.waitUntilListening(on: port) {
        case true?: return
        case false?:
            self.process = nil
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            let stderr =
                (try? String(contentsOf: directory.appendingPathComponent("stderr.log"), encoding: .utf8)) ?? ""
            throw HarnessError("mosquitto exited at start (status \(process.wait())): \(log)\(stderr)")
        case nil:
            stop()
            throw HarnessError("mosquitto did not listen on 127.0.0.1:\(port) within 10s")
        }
    }

    /// Graceful stop (SIGTERM); returns when the process has exited.
    public func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        process.wait()
        self.process = nil
    }

    /// Kills the broker without warning (SIGKILL), as a crash or power cut would.
    public func kill() {
        guard let process else { return }
        process.signal(SIGKILL)
        process.wait()
        self.process = nil
    }

    /// SIGSTOP: the broker stops reading its sockets, as a hung one would; `resume()` undoes it.
    public func pause() { process?.signal(SIGSTOP) }
    public func resume() { process?.signal(SIGCONT) }

    /// SIGHUP: mosquitto reads its password and ACL files again.
    public func reload() { process?.signal(SIGHUP) }

    public var isRunning: Bool { process?.isRunning ?? false }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
