/// Builds one JSON object per line with stable field order, for the JSON Lines outputs.
/// Written as UTF-8 bytes and made a `String` once: appending to a `String` piece by piece
/// cost a summary line some hundred string appends, and the summaries write thousands of
/// lines a second at 100 000 series.
public struct JSONLine {
    private var bytes: [UInt8]
    private var first = true

    public init() {
        bytes = [UInt8(ascii: "{")]
        bytes.reserveCapacity(256)
    }

    /// Keys are quoted like values: some are kinds, which come from topics and payloads.
    private mutating func key(_ name: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        JSONText.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func add(_ name: String, _ value: String) {
        key(name)
        JSONText.appendQuoted(value, to: &bytes)
    }

    public mutating func add(_ name: String, _ value: Int) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func add(_ name: String, _ value: Double) {
        key(name)
        bytes.append(contentsOf: Self.number(value).utf8)
    }

    public mutating func addRaw(_ name: String, _ json: String) {
        key(name)
        bytes.append(contentsOf: json.utf8)
    }

    /// The five parts of a series identity, under their stable names.
    public mutating func add(series id: SeriesID) {
        add("park", id.park)
        add("zone", id.zone)
        add("pillar", id.pillar.rawValue)
        add("kind", id.kind)
        add("sensor", id.sensor)
    }

    /// The line, closed: the bytes and the brace written once into the string's own storage.
    public func finished() -> String {
        String(unsafeUninitializedCapacity: bytes.count + 1) { storage in
            _ = storage.initialize(fromContentsOf: bytes)
            storage[bytes.count] = UInt8(ascii: "}")
            return bytes.count + 1
        }
    }

    /// Shortest text that reads back as the same double; non-finite values become null.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
