/// Names that come from the wire and become part of a series (a JSON key, a SenML name, a line
/// protocol field): they end up in logs, summaries, alert lines and terminals, so
/// they are held to SenML's name rule (RFC 8428 §4.5.1) and a length a person can read.
public enum FieldName {
    public static let maxBytes = 64

    /// `[A-Za-z0-9][A-Za-z0-9:./_-]*`, at most `maxBytes` long.
    public static func isValid(_ name: String) -> Bool {
        var count = 0
        for byte in name.utf8 {
            count += 1
            guard count <= maxBytes else { return false }
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                continue
            case UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                guard count > 1 else { return false }
            default: return false
            }
        }
        return count > 0
    }
}
