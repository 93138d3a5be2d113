/// Builds one JSON object per line with stable field order, for the JSON Lines outputs.
public struct JSONLine {
    private(set) var text = "{"
    private var first = true

    public init() {}

    /// Keys are quoted like values: some are kinds, which come from topics and payloads.
    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        JSONText.appendQuoted(name, to: &text)
        text += ":"
    }

    public mutating func add(_ name: String, _ value: String) {
        key(name)
        JSONText.appendQuoted(value, to: &text)
    }

    public mutating func add(_ name: String, _ value: Int) {
        key(name)
        text += String(value)
    }

    public mutating func add(_ name: String, _ value: Double) {
        key(name)
        text += Self.number(value)
    }

    public mutating func addRaw(_ name: String, _ json: String) {
        key(name)
        text += json
    }

    /// The five parts of a series identity, under their stable names.
    public mutating func add(series id: SeriesID) {
        add("park", id.park)
        add("zone", id.zone)
        add("pillar", id.pillar.rawValue)
        add("kind", id.kind)
        add("sensor", id.sensor)
    }

    public func finished() -> String { text + "}" }

    /// Shortest text that reads back as the same double; non-finite values become null.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
