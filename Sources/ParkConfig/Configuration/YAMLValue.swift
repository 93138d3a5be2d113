import Foundation
import ParkIngest
import TelemetryCore
import UplinkWire
import Yams

/// A node of the configuration with its key path, so that every error can say where it is.
package struct YAMLValue {
    package let node: Node
    package let path: String
    package let file: String

    package func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, keyPath: path, line: node.mark?.line, message: message)
    }

    private var shown: String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The keys of a mapping; a key not in `allowed` is an error (a typo must not pass silently).
    package func fields(_ allowed: [String]) throws(ConfigurationError) -> Fields {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping, found \(shown)") }
        var values: [String: YAMLValue] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw error("keys must be plain text") }
            let name = scalar.string
            let childPath = path.isEmpty ? name : "\(path).\(name)"
            guard allowed.contains(name) else {
                throw ConfigurationError(
                    file: file, keyPath: childPath, line: key.mark?.line,
                    message: "unknown key; expected one of \(allowed.joined(separator: ", "))")
            }
            guard values[name] == nil else {
                throw ConfigurationError(file: file, keyPath: childPath, line: key.mark?.line, message: "duplicate key")
            }
            values[name] = YAMLValue(node: value, path: childPath, file: file)
        }
        return Fields(values: values)
    }

    package var isNull: Bool {
        node.null != nil
    }

    package func string() throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected text, found \(shown)") }
        return scalar.string
    }

    package func nonEmptyString() throws(ConfigurationError) -> String {
        let text = try string()
        guard !text.isEmpty else { throw error("must not be empty") }
        return text
    }

    package func bool() throws(ConfigurationError) -> Bool {
        switch try string().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, found \(shown)")
        }
    }

    package func int(in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let text = try string().replacingOccurrences(of: "_", with: "")
        guard let value = Int(text) else { throw error("expected a whole number, found \(shown)") }
        guard range.contains(value) else {
            throw error("\(value) is out of range; expected \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A duration in seconds: `500ms`, `30s`, `5m`, `1h`, `7d`, or a bare number of seconds.
    package func duration(in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        let text = try string().trimmingCharacters(in: .whitespaces)
        guard let seconds = TimeText.seconds(text) else {
            throw error("expected a duration such as 500ms, 30s, 5m, 1h or 7d, found \(shown)")
        }
        guard range.contains(seconds) else {
            throw error(
                "\(text) is out of range; expected \(TimeText.format(range.lowerBound)) to \(TimeText.format(range.upperBound))"
            )
        }
        return seconds
    }

    package func list() throws(ConfigurationError) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw error("expected a list, found \(shown)") }
        return sequence.enumerated().map { YAMLValue(node: $1, path: "\(path)[\($0)]", file: file) }
    }

    package func stringMap() throws(ConfigurationError) -> [String: String] {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping, found \(shown)") }
        var result: [String: String] = [:]
        for (key, value) in mapping {
            guard case .scalar(let k) = key, case .scalar(let v) = value else {
                throw error("expected plain text keys and values")
            }
            result[k.string] = v.string
        }
        return result
    }

    package init(
        node: Node,
        path: String,
        file: String
    ) {
        self.node = node
        self.path = path
        self.file = file
    }
}

package struct Fields {
    package let values: [String: YAMLValue]
    package subscript(_ key: String) -> YAMLValue? {
        guard let value = values[key], !value.isNull else { return nil }
        return value
    }
}

extension YAMLValue {
    /// The node as one line of flow YAML, every scalar double-quoted (YAML's double quotes take
    /// JSON's escapes); parkd reads scalars as text, so it reads back as the same value.
    package var flowText: String { Self.flow(node) }

    private static func flow(_ node: Node) -> String {
        switch node {
        // A null (`~`, `null`, an empty value) stays null; everything else is text.
        case .scalar(let scalar): return node.null != nil ? "null" : JSONText.quoted(scalar.string)
        case .sequence(let items): return "[" + items.map(flow).joined(separator: ", ") + "]"
        case .mapping(let mapping):
            return "{" + mapping.map { key, value in flow(key) + ": " + flow(value) }.joined(separator: ", ") + "}"
        case .alias(let alias): return JSONText.quoted("*\(alias.anchor)")
        }
    }
}
