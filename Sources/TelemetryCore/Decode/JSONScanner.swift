/// A forward-only JSON reader over raw bytes: enough to pick fields out of a sensor payload
/// without building a document, and strict enough to reject what is not JSON.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    /// Steps over `text` if the bytes here are exactly it (no whitespace skipped).
    mutating func skip(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - position >= count,
            Bytes.equal(
                UnsafeBufferPointer(start: text.utf8Start, count: count),
                UnsafeBufferPointer(rebasing: bytes[position..<position + count]))
        else { return false }
        position += count
        return true
    }

    func error(_ text: String) -> PayloadError {
        PayloadError(.malformed, "invalid JSON at byte \(position): \(text)")
    }

    mutating func expect(_ byte: UInt8) throws(PayloadError) {
        skipWhitespace()
        guard peek() == byte else {
            throw error("expected '\(Character(Unicode.Scalar(byte)))'\(found)")
        }
        position += 1
    }

    var found: String {
        guard let byte = peek() else { return ", found the end" }
        if byte >= 0x20 && byte < 0x7f { return ", found '\(Character(Unicode.Scalar(byte)))'" }
        return ", found byte 0x\(String(byte, radix: 16))"
    }

    /// A JSON number. Exact for up to 15 significant digits with a small exponent (the fast
    /// path every sensor value takes); longer forms go through the standard library's parser.
    mutating func number() throws(PayloadError) -> Double {
        skipWhitespace()
        let start = position
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawDigit = false
        if peek() == UInt8(ascii: "0") {
            position += 1
            sawDigit = true
        } else {
            // Eight digits at once while they fit under the 19 kept: the first is not 0 here,
            // so each counts, as in the loop below, which takes the rest one by one.
            while digits <= 11, let eight = eightDigits() {
                mantissa = mantissa &* 100_000_000 &+ eight
                digits += 8
                position += 8
                sawDigit = true
            }
            while let c = peek(), c >= 0x30 && c <= 0x39 {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(c - 0x30)
                    if mantissa != 0 { digits += 1 }
                } else {
                    exponent += 1
                }
                position += 1
                sawDigit = true
            }
        }
        guard sawDigit else { throw error("expected a number\(found)") }
        if peek() == UInt8(ascii: ".") {
            position += 1
            var fraction = false
            // As above, once a digit other than 0 has come (before it, zeros are not counted).
            while mantissa != 0, digits <= 11, let eight = eightDigits() {
                mantissa = mantissa &* 100_000_000 &+ eight
                digits += 8
                exponent -= 8
                position += 8
                fraction = true
            }
            while let c = peek(), c >= 0x30 && c <= 0x39 {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(c - 0x30)
                    if mantissa != 0 { digits += 1 }
                    exponent -= 1
                }
                position += 1
                fraction = true
            }
            guard fraction else { throw error("expected digits after '.'") }
        }
        if let c = peek(), c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            position += 1
            var negativeExponent = false
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                negativeExponent = sign == UInt8(ascii: "-")
                position += 1
            }
            var value = 0
            var any = false
            while let c = peek(), c >= 0x30 && c <= 0x39 {
                if value < 100_000 { value = value * 10 + Int(c - 0x30) }
                position += 1
                any = true
            }
            guard any else { throw error("expected digits in the exponent") }
            exponent += negativeExponent ? -value : value
        }
        if digits <= 15 && exponent >= -22 && exponent <= 22 {
            var result = Double(mantissa)
            if exponent < 0 { result /= Self.powersOfTen[-exponent] } else { result *= Self.powersOfTen[exponent] }
            return negative ? -result : result
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text) else { throw error("number out of range") }
        return value
    }

    /// The value of the eight bytes here when all are ASCII digits, read at once (the
    /// multiply-and-shift reduction simdjson uses: pairs, then fours, then all eight).
    func eightDigits() -> UInt64? {
        guard position + 8 <= bytes.count, let base = bytes.baseAddress else { return nil }
        let word = UInt64(littleEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
        // Every byte 0x30...0x39: its high nibble 3, and still 3 with 6 added.
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
        let threes: UInt64 = 0x3030_3030_3030_3030
        guard word & high == threes, (word &+ 0x0606_0606_0606_0606) & high == threes else { return nil }
        var value = word & 0x0F0F_0F0F_0F0F_0F0F
        value = (value &* 2561) >> 8
        value = ((value & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
        return ((value & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    }

    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Reads the members of the object that starts here: `member` gets each key's raw bytes
    /// range (and whether it holds escapes) with the scanner at the value, which it must consume.
    mutating func members(
        _ member: (inout JSONScanner, _ key: Range<Int>, _ escaped: Bool) throws(PayloadError) -> Void
    ) throws(PayloadError) {
        // Expecting no key, every key is read as a string.
        try members(predicting: []) { (scanner, key, escaped, _) throws(PayloadError) in
            try member(&scanner, key, escaped)
        }
    }

    /// As `members(_:)`, for an object whose keys mostly come in one order: `quoted` holds
    /// each expected key as it is written, quotes and colon included (`"value":`, empty for a
    /// key never expected). Where the next expected key is exactly here, it is stepped over
    /// without being read as a string, and `member` gets its index in `quoted`; any other key
    /// is read as a string, and `member` gets -1. The caller must only expect
    /// keys that read back as themselves: printable ASCII without quote or backslash.
    mutating func members(
        predicting quoted: [[UInt8]],
        _ member: (inout JSONScanner, _ key: Range<Int>, _ escaped: Bool, _ known: Int) throws(PayloadError) -> Void
    ) throws(PayloadError) {
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        var next = 0
        while true {
            skipWhitespace()
            let known =
                next < quoted.count && !quoted[next].isEmpty
                && quoted[next].withUnsafeBufferPointer { quoted in
                    bytes.count - position >= quoted.count
                        && Bytes.equal(quoted, UnsafeBufferPointer(rebasing: bytes[position..<position + quoted.count]))
                }
            if known {
                let key = position + 1..<position + quoted[next].count - 2
                position += quoted[next].count
                skipWhitespace()
                try member(&self, key, false, next)
                next += 1
            } else {
                let (key, escaped) = try rawString()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                try member(&self, key, escaped, -1)
            }
            skipWhitespace()
            if peek() == UInt8(ascii: ",") {
                position += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            return
        }
    }

    /// Skips any value, bounded in nesting so a hostile payload cannot exhaust the stack.
    mutating func skipValue(depth: Int = 0) throws(PayloadError) {
        guard depth < 32 else { throw error("nested deeper than 32 levels") }
        skipWhitespace()
        guard let c = peek() else { throw error("expected a value, found the end") }
        switch c {
        case UInt8(ascii: "\""): _ = try rawString()
        case UInt8(ascii: "{"):
            try members { (scanner, _, _) throws(PayloadError) in try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            position += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                position += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    mutating func literal(_ word: StaticString) throws(PayloadError) {
        guard skip(word) else { throw error("expected \(word)") }
    }

    /// What kind of value starts here, for error messages.
    func kindOfValue() -> String {
        switch peek() {
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        case nil: "nothing"
        default: "a number"
        }
    }
}
