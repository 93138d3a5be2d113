/// A small JSON document model for the payloads that need one (SenML, LoRaWAN uplinks).
/// The hot JSON-object path does not build it.
public indirect enum JSONValue: Sendable, Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let x), .array(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    public static func parse(_ bytes: [UInt8]) throws(PayloadError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(PayloadError) in
            var scanner = JSONScanner(buffer)
            scanner.skipWhitespace()
            guard !scanner.atEnd else { throw PayloadError(.empty, "empty payload") }
            let value = try parseValue(&scanner, depth: 0)
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw scanner.error("text after the JSON value") }
            return value
        }
    }

    private static func parseValue(_ scanner: inout JSONScanner, depth: Int) throws(PayloadError) -> JSONValue {
        guard depth < 32 else { throw scanner.error("nested deeper than 32 levels") }
        scanner.skipWhitespace()
        switch scanner.peek() {
        case UInt8(ascii: "{"):
            scanner.position += 1
            var members: [(String, JSONValue)] = []
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: "}") {
                scanner.position += 1
                return .object(members)
            }
            while true {
                let key = try scanner.string()
                try scanner.expect(UInt8(ascii: ":"))
                members.append((key, try parseValue(&scanner, depth: depth + 1)))
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.position += 1
                    continue
                }
                try scanner.expect(UInt8(ascii: "}"))
                return .object(members)
            }
        case UInt8(ascii: "["):
            scanner.position += 1
            var items: [JSONValue] = []
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: "]") {
                scanner.position += 1
                return .array(items)
            }
            while true {
                items.append(try parseValue(&scanner, depth: depth + 1))
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.position += 1
                    continue
                }
                try scanner.expect(UInt8(ascii: "]"))
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try scanner.string())
        case UInt8(ascii: "t"):
            try scanner.literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try scanner.literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try scanner.literal("null")
            return .null
        case nil: throw scanner.error("expected a value, found the end")
        default: return .number(try scanner.number())
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// Follows a dotted path such as `uplink_message.decoded_payload`.
    public func at(path: [String]) -> JSONValue? {
        var node: JSONValue? = self
        for key in path { node = node?[key] }
        return node
    }

    public var number: Double? { if case .number(let v) = self { v } else { nil } }
    public var string: String? { if case .string(let v) = self { v } else { nil } }

    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}
