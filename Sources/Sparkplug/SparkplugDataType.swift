/// The Sparkplug B data types (the specification's index table, §6.4.16).
public enum SparkplugDataType: UInt32, Sendable, CaseIterable {
    case unknown = 0
    case int8 = 1
    case int16 = 2
    case int32 = 3
    case int64 = 4
    case uint8 = 5
    case uint16 = 6
    case uint32 = 7
    case uint64 = 8
    case float = 9
    case double = 10
    case boolean = 11
    case string = 12
    case dateTime = 13
    case text = 14
    case uuid = 15
    case dataSet = 16
    case bytes = 17
    case file = 18
    case template = 19
    case propertySet = 20
    case propertySetList = 21
    case int8Array = 22
    case int16Array = 23
    case int32Array = 24
    case int64Array = 25
    case uint8Array = 26
    case uint16Array = 27
    case uint32Array = 28
    case uint64Array = 29
    case floatArray = 30
    case doubleArray = 31
    case booleanArray = 32
    case stringArray = 33
    case dateTimeArray = 34

    /// A type whose value parkd reads as one number.
    public var isScalarNumber: Bool { (1...11).contains(rawValue) || self == .dateTime }
}

/// Why a metric gave no reading; counted per reason.
public enum SparkplugSkip: String, Error, Sendable, CaseIterable, Comparable {
    /// String, Text or UUID values.
    case string
    /// Bytes and File values.
    case bytes
    case dataset
    case template
    /// The array types (22-34), sent as bytes.
    case array
    /// A property set on a metric (its value is still read).
    case propertySet = "property_set"
    case extensionValue = "extension"
    /// A metric with no value and no is_null.
    case noValue = "no_value"
    /// A data type outside the specification's table, or a value in the wrong field for it.
    case badType = "bad_type"
    /// is_null: the metric has no value now.
    case null
    /// is_transient: not to be stored (the specification's meaning).
    case transient
    /// Sparkplug's own metrics: `bdSeq`, `Node Control/*`, `Properties/*`.
    case control
    /// Metrics not named under `kinds:` on a route with `only_mapped`.
    case unmapped

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
