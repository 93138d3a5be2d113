import ParkIngest
import TelemetryCore
import UplinkWire

/// A configuration problem: which file, which key, what was expected. Shown before anything starts.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let keyPath: String
    public let line: Int?
    public let message: String

    public init(file: String, keyPath: String, line: Int? = nil, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return keyPath.isEmpty ? "\(place): \(message)" : "\(place): \(keyPath): \(message)"
    }
}
