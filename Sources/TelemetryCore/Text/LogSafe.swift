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

    public static func isUnsafe(_ v: UInt32) -> Bool {
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
