/// Strings: finding a string's end, unescaping it, checking it is UTF-8.
extension JSONScanner {
    /// A string's raw bytes between the quotes, and whether it holds escapes. Every string is
    /// checked for UTF-8, the ones parkd skips too: RFC 8259 §8.1 requires it of the whole text.
    mutating func rawString() throws(PayloadError) -> (range: Range<Int>, escaped: Bool) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw error("expected a string\(found)") }
        position += 1
        let start = position
        var escaped = false
        var high = false
        let raw = UnsafeRawPointer(bytes.baseAddress)
        while true {
            // Eight bytes at a time up to the next quote, backslash, control or non-ASCII byte.
            if let raw {
                while position + 8 <= bytes.count {
                    let special = Self.specialBytes(
                        UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self)))
                    if special == 0 {
                        position += 8
                    } else {
                        position += special.trailingZeroBitCount >> 3
                        break
                    }
                }
            }
            guard position < bytes.count else { break }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let range = start..<position
                position += 1
                if high, !Self.isUTF8(UnsafeBufferPointer(rebasing: bytes[range])) {
                    throw error("string is not UTF-8")
                }
                return (range, escaped)
            }
            if byte >= 0x80 { high = true }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            if byte < 0x20 { throw error("control character in a string") }
            position += 1
        }
        throw error("unterminated string")
    }

    /// The high bit of each byte of a word (its first byte the lowest) that may be a quote, a
    /// backslash, below 0x20 or above 0x7F: the classic zero-byte tests, whose lowest flag is
    /// exact (a borrow only runs towards later bytes), so the first such byte is
    /// `trailingZeroBitCount / 8` bytes in; 0 when there is none.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let found =
            ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word) | word
        return found & (ones &* 0x80)
    }

    /// The string decoded to Swift, escapes resolved.
    mutating func string() throws(PayloadError) -> String {
        let (range, escaped) = try rawString()
        let raw = UnsafeBufferPointer(rebasing: bytes[range])
        // `rawString` has checked the bytes are UTF-8: no second pass.
        return escaped ? try unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    /// Whether `bytes` are well-formed UTF-8, without building anything.
    static func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Appends a string's UTF-8 bytes, escapes resolved, to `out`; returns where they are in it.
    /// `validate`: an escaped string's result is checked as UTF-8 too (an unescaped one was).
    mutating func appendString(to out: inout [UInt8], validate: Bool = false) throws(PayloadError) -> Range<Int> {
        let (range, escaped) = try rawString()
        let raw = UnsafeBufferPointer(rebasing: bytes[range])
        let start = out.count
        if escaped {
            try unescapeBytes(raw, into: &out)
            if validate,
                !out.withUnsafeBufferPointer({ Self.isUTF8(UnsafeBufferPointer(rebasing: $0[start...])) })
            {
                throw error("string is not UTF-8")
            }
        } else {
            out.append(contentsOf: raw)
        }
        return start..<out.count
    }

    private func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws(PayloadError) -> String {
        var out: [UInt8] = []
        try unescapeBytes(raw, into: &out)
        guard let text = String(validating: out, as: UTF8.self) else { throw error("string is not UTF-8") }
        return text
    }

    /// Appends `raw` with its escapes resolved to `out`. The result is never longer than `raw`
    /// (`\uXXXX` is 6 bytes for at most 3; a surrogate pair 12 for 4), so the room is made
    /// once and written in place.
    private func unescapeBytes(_ raw: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) throws(PayloadError) {
        let base = out.count
        // Room made by copying `raw` (a memcpy; the generic append of repeated zeros showed
        // in profiles); the loop then writes over it.
        out.append(contentsOf: raw)
        var failure: String?
        let written = out.withUnsafeMutableBufferPointer { buffer in
            var w = base
            var i = 0
            func put(_ byte: UInt8) {
                buffer[w] = byte
                w += 1
            }
            while i < raw.count {
                let byte = raw[i]
                guard byte == UInt8(ascii: "\\") else {
                    put(byte)
                    i += 1
                    continue
                }
                guard i + 1 < raw.count else {
                    put(byte)
                    i += 1
                    continue
                }
                let next = raw[i + 1]
                i += 2
                if let unescaped = Self.escaped(next) {
                    put(unescaped)
                    continue
                }
                switch next {
                case UInt8(ascii: "u"):
                    guard i + 4 <= raw.count, var code = Self.hex4(raw, i) else {
                        failure = "bad \\u escape"
                        return w
                    }
                    i += 4
                    if (0xD800..<0xDC00).contains(code), i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"),
                        raw[i + 1] == UInt8(ascii: "u"), let low = Self.hex4(raw, i + 2),
                        (0xDC00..<0xE000).contains(low)
                    {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                    guard let scalar = Unicode.Scalar(code) else {
                        failure = "bad \\u escape"
                        return w
                    }
                    UTF8.encode(scalar) { put($0) }
                default:
                    failure = "bad escape '\\\(Character(Unicode.Scalar(next)))'"
                    return w
                }
            }
            return w
        }
        out.removeLast(out.count - written)
        if let failure { throw error(failure) }
    }

    private static func hex4(_ raw: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32? {
        var value: UInt32 = 0
        for k in 0..<4 {
            let c = raw[at + k]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        return value
    }

    /// The byte a one-letter escape stands for (`\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`), or
    /// nil (`\u` and unknown escapes).
    private static func escaped(_ letter: UInt8) -> UInt8? {
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): letter
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
    }

    /// The text of a JSON string that ends where `raw` ends (its closing quote just past it),
    /// unescaped onto `out` in one pass: what `appendString` makes of that string, without
    /// first scanning for its end. False, with `out` as it was, for text this pass leaves to
    /// `appendString`: an unescaped quote, a control character, a byte over 0x7F (checked
    /// there as UTF-8), a `\u` or unknown escape, or a backslash at the end.
    static func appendClosed(_ raw: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Bool {
        let base = out.count
        // Room made by copying `raw` (a memcpy); the loop then writes over it, never ahead
        // of where it reads, so eight bytes at a time fit.
        out.append(contentsOf: raw)
        let written: Int? = out.withUnsafeMutableBufferPointer { buffer in
            guard let source = UnsafeRawPointer(raw.baseAddress),
                let target = UnsafeMutableRawPointer(buffer.baseAddress)
            else { return base }
            var w = base
            var i = 0
            while i < raw.count {
                // Eight bytes at a time up to the next quote, backslash, control or non-ASCII byte.
                if i + 8 <= raw.count {
                    let word = source.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    target.storeBytes(of: word, toByteOffset: w, as: UInt64.self)
                    let special = specialBytes(UInt64(littleEndian: word))
                    if special == 0 {
                        i += 8
                        w += 8
                        continue
                    }
                    let plain = special.trailingZeroBitCount >> 3
                    i += plain
                    w += plain
                }
                let byte = raw[i]
                guard byte == UInt8(ascii: "\\") else {
                    guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\"") else { return nil }
                    buffer[w] = byte
                    w += 1
                    i += 1
                    continue
                }
                // `\u` and unknown escapes are left to `appendString`.
                guard i + 1 < raw.count, let unescaped = Self.escaped(raw[i + 1]) else { return nil }
                buffer[w] = unescaped
                w += 1
                i += 2
            }
            return w
        }
        guard let written else {
            out.removeLast(out.count - base)
            return false
        }
        out.removeLast(out.count - written)
        return true
    }
}
