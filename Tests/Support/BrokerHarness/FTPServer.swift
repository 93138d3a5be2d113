import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real pure-ftpd (Debian's) on a free loopback port, with one virtual user chrooted into a
/// scratch folder: what the authority's server is to the regulator feed. TLS (explicit, AUTH
/// TLS) is offered, or required, with a certificate from `TLSMaterial`.
public final class FTPServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    /// What the user sees as `/`.
    public var home: URL { directory.appendingPathComponent("home") }
    public let user = "feed"
    public let password = "feed-secret-1"
    public let tls: TLSMaterial?
    public let requireTLS: Bool
    private var process: ChildProcess?

    public init(tls: TLSMaterial? = nil, requireTLS: Bool = false) throws {
        self.tls = tls
        self.requireTLS = requireTLS
        directory = try Scratch.makeDirectory(prefix: "ftp")
        port = try FreePort.pick()
        chmod(directory.path, 0o755)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        // Virtual users map to a system account; files in the chroot belong to it.
        chown(home.path, 65534, 65534)
        let add = Process()
        add.executableURL = URL(fileURLWithPath: try Command.find("pure-pw"))
        add.arguments = [
            "useradd", user, "-u", "65534", "-g", "65534", "-d", home.path, "-f",
            directory.appendingPathComponent("passwd").path, "-m", "-F",
            directory.appendingPathComponent("users.pdb").path,
        ]
        let input = Pipe()
        add.standardInput = input
        add.standardOutput = FileHandle.nullDevice
        add.standardError = FileHandle.nullDevice
        try add.run()
        input.fileHandleForWriting.write(Data("\(password)\n\(password)\n".utf8))
        try input.fileHandleForWriting.close()
        add.waitUntilExit()
        guard add.terminationStatus == 0 else { throw HarnessError("pure-pw useradd failed") }
        if let tls {
            let both =
                try String(contentsOfFile: tls.serverCertFile, encoding: .utf8)
                + String(contentsOfFile: tls.serverKeyFile, encoding: .utf8)
            try both.write(to: directory.appendingPathComponent("server.pem"), atomically: true, encoding: .utf8)
        }
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts (or restarts) the server on the same port and waits until it accepts connections.
    public func start() throws {
        guard process == nil else { return }
        // Passive data ports: a range above the control port, on loopback only.
        let passive = port < 60000 ? "\(port + 1):\(port + 40)" : "\(port - 40):\(port - 1)"
        var arguments = [
            "-S", "127.0.0.1,\(port)", "-l", "puredb:" + directory.appendingPathComponent("users.pdb").path, "-E",
            "-A", "-j", "-u", "1", "-p", passive, "-P", "127.0.0.1", "-O",
            "clf:" + directory.appendingPathComponent("transfers.log").path,
        ]
        if tls != nil {
            arguments += ["-Y", requireTLS ? "2" : "1", "-2", directory.appendingPathComponent("server.pem").path]
        }
        let process = try ChildProcess(
            try Command.find("pure-ftpd"), arguments, outputPath: directory.appendingPathComponent("server.log").path)
        self.process = process
        switch process.waitUntilListening(on: port) {
        case true?: return
        case false?:
            self.process = nil
            let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            throw HarnessError("pure-ftpd exited at start: \(log)")
        case nil:
            stop()
            throw HarnessError("pure-ftpd did not listen on 127.0.0.1:\(port) within 10s")
        }
    }

    /// Stops the server (SIGKILL, as an outage would); returns once it has exited.
    public func stop() {
        guard let process else { return }
        process.signal(SIGKILL)
        _ = process.wait()
        self.process = nil
        // Sessions it forked live on as processes of their own: end them too.
        _ = try? Command.run("/usr/bin/pkill", ["-KILL", "-f", "pure-ftpd.*127.0.0.1,\(port)"])
    }

    /// Every file the server holds, relative to the user's `/`, sorted.
    public func files() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: home.path) else { return [] }
        var found: [String] = []
        while let next = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: home.path + "/" + next, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                found.append(next)
            }
        }
        return found.sorted()
    }
}
