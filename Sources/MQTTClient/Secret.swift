import Foundation

/// A credential that never shows itself in logs, descriptions or dumps.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Reads a secret from a file, dropping one trailing newline as `echo` writes it.
    public static func fromFile(_ path: String) throws(MQTTError) -> Secret {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidConfiguration("cannot read password file '\(path)'")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw .invalidConfiguration("password file '\(path)' is not UTF-8 text")
        }
        if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
        guard !text.isEmpty else { throw .invalidConfiguration("password file '\(path)' is empty") }
        return Secret(text)
    }

    public static func fromEnvironment(_ name: String) throws(MQTTError) -> Secret {
        guard let text = ProcessInfo.processInfo.environment[name], !text.isEmpty else {
            throw .invalidConfiguration("environment variable \(name) (password_env) is not set or empty")
        }
        return Secret(text)
    }
}
