/// An item's body: any JSON value, kept as it came (integers stay integers), so the central
/// side can store it whole and read its fields.
public enum JSONBody: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONBody])
    case object([String: JSONBody])

    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONBody] = []
            while !array.isAtEnd { items.append(try array.decode(JSONBody.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: Key.self) {
            var fields: [String: JSONBody] = [:]
            for key in object.allKeys { fields[key.stringValue] = try object.decode(JSONBody.self, forKey: key) }
            self = .object(fields)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? single.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .int(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .double(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .string(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .array(let items):
            var array = encoder.unkeyedContainer()
            for item in items { try array.encode(item) }
        case .object(let fields):
            var object = encoder.container(keyedBy: Key.self)
            for (key, value) in fields { try object.encode(value, forKey: Key(key)) }
        }
    }

    /// A field of an object body, or nil.
    public subscript(field: String) -> JSONBody? {
        if case .object(let fields) = self { return fields[field] }
        return nil
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
