import Foundation
import Synchronization

/// Runs the helper programs tests need (openssl, mosquitto_passwd, ...).
public enum Command {
    public static func find(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin"]
        for directory in directories {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw HarnessError("\(name) not found on PATH or in /usr/sbin; run 'make deps'")
    }

    /// Runs a program to completion; throws with its output when it fails.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], directory: URL? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw HarnessError("\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

/// Temporary directories: tests remove them when done, and what is left (certificates,
/// credentials, outputs a test reads to the end) goes when the process exits. Without that,
/// each `make test` left some 40 folders in /tmp.
public enum Scratch {
    private static let made = Mutex<[URL]>([])
    private static let cleanupRegistered: Bool = {
        atexit {
            for url in Scratch.made.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
        }
        return true
    }()

    public static func makeDirectory(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("parktelemetry-\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        _ = cleanupRegistered
        made.withLock { $0.append(url) }
        return url
    }
}
