import TelemetryCore

/// Builds one JSON object per line with stable field order, for the JSON Lines outputs.
struct JSONLine {
    private(set) var text = "{"
    private var first = true

    /// Keys are quoted like values: some are kinds, which come from topics and payloads.
    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        JSONText.appendQuoted(name, to: &text)
        text += ":"
    }

    mutating func add(_ name: String, _ value: String) {
        key(name)
        JSONText.appendQuoted(value, to: &text)
    }

    mutating func add(_ name: String, _ value: Int) {
        key(name)
        text += String(value)
    }

    mutating func add(_ name: String, _ value: Double) {
        key(name)
        text += Self.number(value)
    }

    mutating func addRaw(_ name: String, _ json: String) {
        key(name)
        text += json
    }

    /// The five parts of a series identity, under their stable names.
    mutating func add(series id: SeriesID) {
        add("park", id.park)
        add("zone", id.zone)
        add("pillar", id.pillar.rawValue)
        add("kind", id.kind)
        add("sensor", id.sensor)
    }

    /// A rollup's figures (the history API's lines and the uplink's items alike).
    mutating func add(figures r: Rollup) {
        add("count", r.count)
        add("mean", r.mean)
        add("min", r.min)
        add("max", r.max)
        add("last", r.last)
        if let v = r.leq { add("leq", v) }
        if let v = r.increase { add("increase", v) }
    }

    func finished() -> String { text + "}" }

    /// Shortest text that reads back as the same double; non-finite values become null.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// Makes untrusted text (topics, payload excerpts, names from the wire) safe for a one-line
/// log or a terminal: C0 and C1 controls, line and paragraph separators and bidirectional
/// overrides escaped as `\xNN` / `\u{NNNN}`, backslashes doubled so an escape cannot be forged,
/// length bounded.
public enum LogSafe {
    /// Whether `text` holds nothing `text(_:)` would escape but backslashes (a JSON line as
    /// parkd writes it is clean and passes through unchanged).
    public static func isClean(_ value: String) -> Bool {
        !value.unicodeScalars.contains { isUnsafe($0.value) }
    }

    static func isUnsafe(_ v: UInt32) -> Bool {
        v < 0x20 || v == 0x7f || (0x80..<0xa0).contains(v) || v == 0x2028 || v == 0x2029
            || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v)
    }

    public static func text(_ value: String, limit: Int = 200) -> String {
        var out = ""
        var count = 0
        for scalar in value.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            let v = scalar.value
            if v < 0x20 || v == 0x7f || (0x80..<0xa0).contains(v) {
                out += "\\x" + (v < 0x10 ? "0" : "") + String(v, radix: 16)
            } else if isUnsafe(v) {
                out += "\\u{" + String(v, radix: 16) + "}"
            } else if v == 0x5c {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
