import Testing

@testable import TelemetryCore

@Suite("JSON reading decoder")
struct JSONReadingDecoderTests {
    let decoder = JSONReadingDecoder()
    let arrival = EventTime(milliseconds: 1_795_400_000_000)

    func decode(_ text: String) throws(PayloadError) -> Reading {
        try decoder.decode(Array(text.utf8), arrival: arrival)
    }

    @Test("a full reading")
    func full() throws {
        let reading = try decode(
            #"{"value": 41.5, "ts": "2026-11-23T10:15:00+07:00", "unit": "ug/m3", "status": "ok", "seq": 1842}"#)
        #expect(
            reading
                == Reading(
                    value: 41.5, time: EventTime(milliseconds: 1_795_403_700_000), unit: "ug/m3", status: .ok, seq: 1842
                ))
    }

    @Test(
        "ts as epoch seconds, milliseconds, microseconds or nanoseconds",
        arguments: [
            ("1795400100", Int64(1_795_400_100_000)),
            ("1795400100.25", Int64(1_795_400_100_250)),
            ("1795400100250", Int64(1_795_400_100_250)),
            ("1795400100250000", Int64(1_795_400_100_250)),
            ("1795400100250000000", Int64(1_795_400_100_250)),
        ])
    func epochTimes(ts: String, milliseconds: Int64) throws {
        #expect(try decode(#"{"value":1,"ts":\#(ts)}"#).time.milliseconds == milliseconds)
    }

    /// Before, a member parkd skips was never checked: invalid UTF-8 there was accepted.
    @Test("invalid UTF-8 anywhere in the text is refused, in a skipped member or a key too (RFC 8259 §8.1)")
    func invalidUTF8Anywhere() throws {
        for bytes in [
            Array(#"{"value": 20, "note": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8),
            Array(#"{"meta": {"a": [""#.utf8) + [0xC3] + Array(#""]}, "value": 20}"#.utf8),
            Array(#"{""#.utf8) + [0xED, 0xA0, 0x80] + Array(#"": 1, "value": 20}"#.utf8),  // a surrogate, encoded
        ] {
            #expect(throws: PayloadError.self) { try decoder.decode(bytes, arrival: arrival) }
        }
        // Valid UTF-8 in a skipped member is fine.
        #expect(try decode(#"{"note": "Bình Dương – ổn", "value": 20}"#).value == 20)
    }

    @Test("no ts: the arrival time; unknown fields and nesting are skipped")
    func defaults() throws {
        let reading = try decode(#"{"meta":{"fw":"1.2","tags":[1,true,null,{"a":"\"}"}]},"value":-3e2,"extra":"x"}"#)
        #expect(reading.value == -300)
        #expect(reading.time == arrival)
        #expect(reading.status == .ok)
        #expect(reading.seq == nil)
    }

    @Test("status calibrating and error are kept with the reading")
    func status() throws {
        #expect(try decode(#"{"value":1,"status":"calibrating"}"#).status == .calibrating)
        #expect(try decode(#"{"value":1,"status":"ERROR"}"#).status == .error)
        // "ok" is read in place; the same word escaped, in capitals or longer takes the text path.
        #expect(try decode(#"{"value":1,"status":"ok","seq":3}"#).seq == 3)
        #expect(try decode(#"{"value":1,"status":"\u006fk"}"#).status == .ok)
        #expect(try decode(#"{"value":1,"status":"OK"}"#).status == .ok)
        #expect(throws: PayloadError.self) { try decode(#"{"value":1,"status":"o"}"#) }
        #expect(throws: PayloadError.self) { try decode(#"{"value":1,"status":"okk"}"#) }
        #expect(throws: PayloadError.self) { try decode(#"{"value":1,"status":"ok"#) }
    }

    @Test("configured field names")
    func fieldNames() throws {
        var names = JSONReadingDecoder.FieldNames()
        names.value = "pm2_5"
        names.time = "time"
        let reading = try JSONReadingDecoder(fields: names).decode(
            Array(#"{"pm2_5": 12.25, "time": 1795400100}"#.utf8), arrival: arrival)
        #expect(reading.value == 12.25)
        #expect(reading.time.milliseconds == 1_795_400_100_000)
    }

    @Test(
        "malformed payloads fail with a specific reason",
        arguments: [
            ("", PayloadError.Reason.empty, "empty"),
            ("   ", .empty, "empty"),
            ("not json", .malformed, "not JSON"),
            ("42", .malformed, "JSON a number"),
            ("[1,2]", .malformed, "JSON an array"),
            (#"{"value": 1"#, .malformed, "expected '}'"),
            (#"{"value": 1} x"#, .malformed, "after the JSON object"),
            (#"{"value": "41.5"}"#, .badField, "'value' must be a number, found a string"),
            (#"{"value": null}"#, .badField, "'value' must be a number, found null"),
            (#"{"value": 1e999}"#, .badField, "not a finite number"),
            (#"{"ts": 1795400100}"#, .missingField, "no 'value'"),
            (#"{"value": 1, "ts": "yesterday"}"#, .badTime, "'ts' is 'yesterday'"),
            (#"{"value": 1, "ts": 1e25}"#, .badTime, "not epoch seconds, ms, µs or ns of the years 0001-9999"),
            (#"{"value": 1, "ts": -1e12}"#, .badTime, "not epoch seconds"),
            (#"{"value": 1, "ts": "0000-01-01T00:00:00Z"}"#, .badTime, "expected RFC 3339"),
            (#"{"value": 1, "status": "sleepy"}"#, .badField, "expected ok, calibrating or error"),
            (#"{"value": 1, "seq": 1.5}"#, .badField, "'seq' must be an integer"),
            (#"{"value": 1, "unit": 5}"#, .badField, "'unit' must be a string"),
            (#"{"value": 01}"#, .malformed, "expected '}'"),
            (#"{"value": 1, "x": tru}"#, .malformed, "expected true"),
            ("{\"value\": 1, \"x\": \"a\u{01}\"}", .malformed, "control character"),
        ])
    func malformed(text: String, reason: PayloadError.Reason, detail: String) {
        let error = #expect(throws: PayloadError.self) { try decode(text) }
        #expect(error?.reason == reason, "\(text)")
        #expect(error?.detail.contains(detail) == true, "\(text): \(String(describing: error))")
    }

    @Test("deep nesting is refused, not recursed into without bound")
    func deepNesting() {
        let text =
            #"{"x":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + #","value":1}"#
        let error = #expect(throws: PayloadError.self) { try decode(text) }
        #expect(error?.detail.contains("nested deeper") == true)
    }

    @Test("every value round-trips exactly through its shortest text (property)")
    func numbersRoundTrip() throws {
        var random = SeededRandom(seed: 42)
        for i in 0..<20_000 {
            let value: Double
            switch i % 4 {
            case 0: value = Double.random(in: -1000...1000, using: &random)
            case 1: value = (Double(Int.random(in: -99_999...99_999, using: &random)) / 100)
            case 2: value = Double(bitPattern: random.next() & 0x7FEF_FFFF_FFFF_FFFF)  // any finite magnitude
            default: value = Double.random(in: 0...1e-3, using: &random)
            }
            let reading = try decode(#"{"value":\#(value)}"#)
            #expect(reading.value == value, "\(value)")
        }
    }

    @Test("escaped strings decode to their text")
    func escapes() throws {
        let reading = try decode(#"{"value":1,"unit":"\u00b5g\/m\u00B3 \"x\" \ud83c\udf3f"}"#)
        #expect(reading.unit == "µg/m³ \"x\" 🌿")
    }

    @Test(
        "keys stepped over where they are expected read as keys looked up one by one: any order, spacing, names or damage (property)"
    )
    func predictedKeysAgree() {
        // The decoder steps over `"value":` and the other keys with one comparison where it
        // expects them next (`JSONScanner.members(predicting:_:)`). Objects of those keys, in
        // and out of order, spaced, renamed (one name shadowing another, names that need
        // escapes) and then damaged, must decode exactly as with every key read and looked up.
        var random = SeededRandom(seed: 2026)
        var renamed = JSONReadingDecoder.FieldNames()
        (renamed.value, renamed.time, renamed.unit, renamed.status, renamed.seq) = ("v", "at", "u", "s", "n")
        var shadowed = JSONReadingDecoder.FieldNames()
        (shadowed.value, shadowed.time) = ("x", "x")
        var escaped = JSONReadingDecoder.FieldNames()
        (escaped.unit, escaped.status) = (#"u"nit"#, #"st\at"#)
        let configurations = [JSONReadingDecoder.FieldNames(), renamed, shadowed, escaped]
        let good = [
            "41.5", "1795400000000", #""ug/m3""#, #""ok""#, "1842",
        ]
        let others = [
            "-0", "1e400", #""2026-11-23T10:15:00+07:00""#, #""calibrating""#, "null", "true", "[1,2]", #"{"a":1}"#,
            #""\u006fk""#, #""o""#, "1.5e3",
        ]
        let noise: [UInt8] = [0x20, 0x22, 0x5C, 0x2C, 0x7D, 0x7B, 0x3A, 0x30, 0x0A, 0xFF, 0x65, 0x75]
        func quoted(_ name: String) -> String {
            "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var agreed = 0
        for i in 0..<20_000 {
            let fields = configurations[i % configurations.count]
            let names = [fields.value, fields.time, fields.unit, fields.status, fields.seq]
            var members = Array(0..<5)
            if Int.random(in: 0..<4, using: &random) == 0 { members.shuffle(using: &random) }
            if Int.random(in: 0..<4, using: &random) == 0 { members.remove(at: Int.random(in: 0..<5, using: &random)) }
            if Int.random(in: 0..<6, using: &random) == 0 {
                members.insert(5, at: Int.random(in: 0...members.count, using: &random))
            }
            if Int.random(in: 0..<8, using: &random) == 0 { members.append(members.randomElement(using: &random)!) }
            let spaces = ["", "", "", " ", "\n\t"]
            let text =
                "{"
                + members.map { k -> String in
                    let name = k < 5 ? quoted(names[k]) : (Bool.random(using: &random) ? #""other""# : #""val\u0075e""#)
                    let value =
                        k < 5 && Int.random(in: 0..<4, using: &random) > 0
                        ? good[k] : others.randomElement(using: &random)!
                    return name + spaces.randomElement(using: &random)! + ":" + spaces.randomElement(using: &random)!
                        + value
                }.joined(separator: "," + spaces.randomElement(using: &random)!) + "}"
            var bytes = Array(text.utf8)
            for _ in 0..<(i % 3 == 0 ? Int.random(in: 1...2, using: &random) : 0) {
                let at = Int.random(in: 0...bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes.insert(noise.randomElement(using: &random)!, at: at)
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: if at < bytes.count { bytes[at] = noise.randomElement(using: &random)! }
                }
            }
            func decode(_ decoder: JSONReadingDecoder) -> Result<[Reading], PayloadError> {
                Result { () throws(PayloadError) in
                    var readings: [Reading] = []
                    try decoder.decode(bytes, arrival: arrival, into: &readings)
                    return readings
                }
            }
            let predicted = decode(JSONReadingDecoder(fields: fields))
            let looked = decode(JSONReadingDecoder(fields: fields, predictingKeys: false))
            #expect(predicted == looked, "\(String(decoding: bytes, as: UTF8.self))")
            if case .success = predicted { agreed += 1 }
        }
        // Many objects must decode, or this checks little of the keys' path.
        #expect(agreed > 5_000, "\(agreed) objects decoded")
        // The keys expected: every default and renamed one; a shadowed or escaped name never
        // (or the comparison above would check nothing of the prediction).
        let expected = { (fields: JSONReadingDecoder.FieldNames) in
            JSONReadingDecoder(fields: fields).names.quoted.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(expected(configurations[0]) == [#""value":"#, #""ts":"#, #""unit":"#, #""status":"#, #""seq":"#])
        #expect(expected(renamed) == [#""v":"#, #""at":"#, #""u":"#, #""s":"#, #""n":"#])
        #expect(expected(shadowed) == [#""x":"#, "", #""unit":"#, #""status":"#, #""seq":"#])
        #expect(expected(escaped) == [#""value":"#, #""ts":"#, "", "", #""seq":"#])
        #expect(JSONReadingDecoder(fields: renamed, predictingKeys: false).names.quoted.allSatisfy { $0.isEmpty })
    }

    @Test("random garbage never crashes the decoder (property)")
    func garbage() {
        var random = SeededRandom(seed: 7)
        let alphabet = Array(#"{}[]":,0123456789.eE+-truefalsn \"#.utf8) + [0, 0xff, 0x0a]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<40, using: &random)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &random)! }
            _ = try? decoder.decode(bytes, arrival: arrival)
        }
    }
}

@Suite("JSON scanner")
struct JSONScannerTests {
    /// The string scan one byte at a time, as it was before it took eight at once: the range,
    /// whether it holds escapes, or the error's text.
    static func reference(_ bytes: [UInt8]) -> String {
        var position = 1
        var escaped = false
        var high = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                if high, String(validating: bytes[1..<position], as: UTF8.self) == nil { return "not UTF-8" }
                return "\(1..<position) \(escaped)"
            }
            if byte >= 0x80 { high = true }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            if byte < 0x20 { return "control" }
            position += 1
        }
        return "unterminated"
    }

    @Test("a string unescaped in one pass to its known end reads as the general string reader reads it (property)")
    func closedString() {
        // `appendClosed` takes a string's text whose end is known (a written feed line's
        // payload) and unescapes it eight bytes at a time between escapes. Whatever it takes
        // must come out as `appendString` makes of the same string in quotes, read to its
        // end; what it refuses must leave the output as it was.
        var random = SeededRandom(seed: 27)
        let pieces: [[UInt8]] = [
            [0x5C, 0x22], [0x5C, 0x5C], [0x5C, 0x2F], [0x5C, 0x6E], [0x5C, 0x74], [0x5C, 0x62], [0x5C, 0x66],
            [0x5C, 0x72], Array(#"\u0041"#.utf8), [0x5C, 0x71], [0x22], [0x00], [0x1F], [0xC3, 0xA9], [0xFF], [0x5C],
        ]
        var taken = 0
        for _ in 0..<20_000 {
            var raw: [UInt8] = []
            for _ in 0..<Int.random(in: 0..<10, using: &random) {
                if Int.random(in: 0..<3, using: &random) == 0 {
                    raw += pieces.randomElement(using: &random)!
                } else {
                    raw += (0..<Int.random(in: 1...17, using: &random)).map { _ in
                        UInt8.random(in: 0x23...0x5B, using: &random)
                    }
                }
            }
            let before: [UInt8] = Array("earlier".utf8)
            var closed = before
            let took = raw.withUnsafeBufferPointer { JSONScanner.appendClosed($0, to: &closed) }
            guard took else {
                #expect(closed == before, "\(raw)")
                continue
            }
            taken += 1
            let string = [UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")]
            var general = before
            let read: Bool = string.withUnsafeBufferPointer { buffer in
                var scanner = JSONScanner(buffer)
                guard (try? scanner.appendString(to: &general)) != nil else { return false }
                return scanner.atEnd
            }
            #expect(read && closed == general, "\(raw)")
        }
        #expect(taken > 5_000, "\(taken) strings taken")
    }

    /// A number as RFC 8259 §6 writes it, read by its grammar and converted by the standard
    /// library (correctly rounded, as the scanner's exact paths are): its bits and where it
    /// ended, or which part is missing.
    static func referenceNumber(_ bytes: [UInt8]) -> String {
        var end = 0
        func digits() -> Int {
            let start = end
            while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
            return end - start
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "-") { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "0") {
            end += 1
        } else if digits() == 0 {
            return "expected a number"
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: ".") {
            end += 1
            guard digits() > 0 else { return "expected digits after '.'" }
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "e") || bytes[end] == UInt8(ascii: "E") {
            end += 1
            if end < bytes.count, bytes[end] == UInt8(ascii: "+") || bytes[end] == UInt8(ascii: "-") { end += 1 }
            guard digits() > 0 else { return "expected digits in the exponent" }
        }
        guard let value = Double(String(decoding: bytes[..<end], as: UTF8.self)) else { return "number out of range" }
        return "\(value.bitPattern) \(end)"
    }

    @Test("eight digits are read at once, and nothing else is")
    func eightDigits() {
        func read(_ bytes: [UInt8], at position: Int = 0) -> UInt64? {
            bytes.withUnsafeBufferPointer { buffer in
                var scanner = JSONScanner(buffer)
                scanner.position = position
                return scanner.eightDigits()
            }
        }
        #expect(read(Array("12345678".utf8)) == 12_345_678)
        #expect(read(Array("00000000".utf8)) == 0 && read(Array("99999999".utf8)) == 99_999_999)
        #expect(read(Array("987654321".utf8), at: 1) == 87_654_321)
        #expect(read(Array("1234567".utf8)) == nil)  // seven bytes left
        #expect(read(Array("12345678".utf8), at: 1) == nil)
        // One byte that is not a digit, anywhere: the bytes next to '0' and '9' included.
        for at in 0..<8 {
            for byte: UInt8 in [0x2F, 0x3A, 0x2E, 0x20, 0xB0, 0x00, 0x40, 0x3F] {
                var bytes = Array("12345678".utf8)
                bytes[at] = byte
                #expect(read(bytes) == nil, "\(bytes)")
            }
        }
    }

    @Test("numbers read eight digits at a time are the numbers their text reads as, bit for bit (property)")
    func numbers() {
        var random = SeededRandom(seed: 28)
        func digitRun(_ count: Int, leadingZeros: Int = 0) -> String {
            String(repeating: "0", count: leadingZeros)
                + String(
                    (0..<count).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x30...0x39, using: &random))) })
        }
        for i in 0..<40_000 {
            var text = Bool.random(using: &random) ? "-" : ""
            if Int.random(in: 0..<6, using: &random) == 0 {
                text += "0"
            } else {
                text += String(Int.random(in: 1...9, using: &random)) + digitRun(Int.random(in: 0...24, using: &random))
            }
            if Int.random(in: 0..<3, using: &random) > 0 {
                text +=
                    "."
                    + digitRun(
                        Int.random(in: 0...24, using: &random), leadingZeros: Int.random(in: 0...3, using: &random))
            }
            if Int.random(in: 0..<5, using: &random) == 0 {
                text +=
                    ["e", "E", "e-", "e+"].randomElement(using: &random)!
                    + digitRun(Int.random(in: 0...3, using: &random))
            }
            // What follows the number, sometimes more digits-like bytes or the end of the text.
            text += ["", ",", "}", "x", ":9", "/", "\u{7F}"].randomElement(using: &random)!
            var bytes = Array(text.utf8)
            if i % 5 == 0, !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = [0x2F, 0x3A, 0x2E, 0x39, 0x30, 0x00, 0xB9]
                    .randomElement(using: &random)!
            }
            let got: String = bytes.withUnsafeBufferPointer { buffer in
                var scanner = JSONScanner(buffer)
                do throws(PayloadError) {
                    let value = try scanner.number()
                    return "\(value.bitPattern) \(scanner.position)"
                } catch {
                    for known in [
                        "expected a number", "expected digits after '.'", "expected digits in the exponent",
                        "number out of range",
                    ]
                    where error.detail.contains(known) { return known }
                    return error.detail
                }
            }
            #expect(got == Self.referenceNumber(bytes), "\(text)")
        }
    }

    @Test("the eight-byte string scan agrees with the byte-by-byte one on strings of every length (property)")
    func stringScan() {
        var random = SeededRandom(seed: 21)
        // Plain letters, with now and then a byte the scan must stop at, anywhere in a word.
        let specials: [UInt8] = [0x22, 0x5C, 0x00, 0x1F, 0x20, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x21, 0x5B, 0x5D]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<40, using: &random)
            var bytes: [UInt8] = [UInt8(ascii: "\"")]
            for _ in 0..<length {
                bytes.append(
                    Int.random(in: 0..<6, using: &random) == 0
                        ? specials.randomElement(using: &random)! : UInt8.random(in: 0x23...0x5B, using: &random))
            }
            if Bool.random(using: &random) { bytes.append(UInt8(ascii: "\"")) }
            let expected = Self.reference(bytes)
            let got: String = bytes.withUnsafeBufferPointer { buffer in
                var scanner = JSONScanner(buffer)
                do throws(PayloadError) {
                    let (range, escaped) = try scanner.rawString()
                    return "\(range) \(escaped)"
                } catch {
                    let text = error.detail
                    if text.contains("not UTF-8") { return "not UTF-8" }
                    if text.contains("control") { return "control" }
                    return text.contains("unterminated") ? "unterminated" : text
                }
            }
            #expect(got == expected, "\(bytes)")
        }
    }
}
