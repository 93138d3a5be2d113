import Testing

@testable import TelemetryCore

/// A replay decodes a written feed line's payload where it lies in the line, still escaped
/// (`decodeEscaped`). Whatever it takes must be exactly what `decode` makes of the unescaped
/// payload; whatever it leaves (false) must leave the readings as they were, for `decode`.
@Suite("Escaped payloads")
struct EscapedPayloadTests {
    let arrival = EventTime(milliseconds: 1_795_400_000_000)

    /// The payload as a feed line's `"payload"` string holds it, without the quotes.
    static func escaped(_ payload: [UInt8]) -> [UInt8] {
        var quoted: [UInt8] = []
        JSONText.appendQuoted(String(decoding: payload, as: UTF8.self), to: &quoted)
        return Array(quoted.dropFirst().dropLast())
    }

    /// The string text `escaped` reads as (nil when it is not a JSON string's text).
    static func unescaped(_ escaped: [UInt8]) -> [UInt8]? {
        let string = [UInt8(ascii: "\"")] + escaped + [UInt8(ascii: "\"")]
        return string.withUnsafeBufferPointer { buffer -> [UInt8]? in
            var scanner = JSONScanner(buffer)
            var out: [UInt8] = []
            guard (try? scanner.appendString(to: &out, validate: true)) != nil, scanner.atEnd else { return nil }
            return out
        }
    }

    enum Outcome: Equatable {
        case left
        case took([Reading])
    }

    /// `decodeEscaped` on `escaped`, checked against `decode` on its text; what it did.
    func check(_ decoder: JSONReadingDecoder, _ escaped: [UInt8], _ note: @autoclosure () -> String) -> Outcome {
        let marker = Reading(value: -1, time: arrival)
        var fast = [marker]
        let took = escaped.withUnsafeBufferPointer { decoder.decodeEscaped($0, arrival: arrival, into: &fast) }
        guard took else {
            #expect(fast == [marker], "left, but the readings changed: \(note())")
            return .left
        }
        guard let text = Self.unescaped(escaped) else {
            Issue.record("took text that is not a JSON string's: \(note())")
            return .left
        }
        var general = [marker]
        do throws(PayloadError) {
            try decoder.decode(text, arrival: arrival, into: &general)
        } catch {
            Issue.record("took what decode refuses (\(error.detail)): \(note())")
            return .left
        }
        #expect(fast == general, "\(note())")
        // Bit for bit: `==` would let -0.0 stand for 0.0.
        #expect(fast.map(\.value.bitPattern) == general.map(\.value.bitPattern), "\(note())")
        return .took(Array(fast.dropFirst()))
    }

    @Test("a written payload is taken as decode reads it; spaces between its parts too")
    func written() throws {
        let decoder = JSONReadingDecoder()
        for payload in [
            #"{"value":870.47,"ts":1795400000000,"unit":"kW","status":"ok","seq":1}"#,
            #"{ "value": -3.5e2 , "ts": 1795400000 , "unit": "ug/m3" }"#,
            #"{"seq":7,"value":0,"value":12.25}"#,
        ] {
            let outcome = check(decoder, Self.escaped(Array(payload.utf8)), payload)
            guard case .took(let readings) = outcome else {
                Issue.record("left: \(payload)")
                continue
            }
            #expect(readings.count == 1)
        }
        guard
            case .took(let readings) = check(
                decoder, Self.escaped(Array(#"{"value":870.47,"ts":1795400000010,"unit":"kW","seq":3}"#.utf8)), "")
        else {
            Issue.record("left")
            return
        }
        // By hand: 1795400000010 is epoch milliseconds (between 1e11 and 1e14).
        #expect(
            readings == [
                Reading(
                    value: 870.47, time: EventTime(milliseconds: 1_795_400_000_010), unit: "kW", status: .ok, seq: 3)
            ])
    }

    @Test("what it does not read as decode would is left to decode, readings untouched")
    func left() {
        let decoder = JSONReadingDecoder()
        for payload in [
            #"{"value":1,"ts":"2026-11-23T10:15:00+07:00"}"#,  // a string ts
            #"{"value":1,"status":"error"}"#,  // a status other than ok
            #"{"value":1,"unit":null}"#,
            #"{"value":1,"unit":"µg/m3"}"#,  // not ASCII
            #"{"value":1,"note":"x"}"#,  // another key
            #"{"pm25":1,"pm10":2}"#,  // several readings
            "{\"value\":1,\n\"seq\":2}",  // a line break, escaped in the line
            #"{"va\u006cue":1}"#,  // an escaped key
            #"{"value":1}x"#, #"{"value":1"#, "{}", "", "1", #"{"value":"1"}"#, #"{"value":1e400}"#,
            #"{"value":1,"seq":1.5}"#, #"{"value":1,"ts":-1e30}"#,
        ] {
            #expect(check(decoder, Self.escaped(Array(payload.utf8)), payload) == .left, "\(payload)")
        }
    }

    @Test("a payload over the route's limit is left to decode, which refuses it with its size")
    func overTheLimit() {
        let decoder = PayloadDecoder(maxBytes: 20)
        var readings: [Reading] = []
        let payload = Self.escaped(Array(#"{"value":1,"unit":"kW"}"#.utf8))
        let took = payload.withUnsafeBufferPointer { decoder.decodeEscaped($0, arrival: arrival, into: &readings) }
        #expect(!took && readings.isEmpty)
        let small = Self.escaped(Array(#"{"value":1}"#.utf8))
        #expect(small.withUnsafeBufferPointer { decoder.decodeEscaped($0, arrival: arrival, into: &readings) })
        let one = Self.escaped(Array("1".utf8))
        #expect(
            !one.withUnsafeBufferPointer {
                PayloadDecoder(format: .number).decodeEscaped($0, arrival: arrival, into: &readings)
            })
    }

    /// Payloads from a grammar of what sensors send and get wrong: the fields in any order,
    /// repeated or missing, numbers of every form, strings with escapes, other values,
    /// whitespace of every kind, and text after the object.
    static func payload(_ random: inout SeededRandom, keys: [String]) -> String {
        func pick<T>(_ options: [T]) -> T { options.randomElement(using: &random)! }
        func number() -> String {
            pick([
                "0", "-0", "1", "-7", "870.47", "1e3", "-2.5E-3", "01", "1.", "-", "1e", "123456789012345678901",
                "1e400", "0.1", "3.14159265358979", "1795400000000", "1795400000", "1795400000123456",
                "1795400000123456789", "1e20", "12.5", String(Int.random(in: -100_000...100_000, using: &random)),
                String(Double.random(in: -1e6...1e6, using: &random)),
            ])
        }
        func value() -> String {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5: number()
            case 5: pick([#""ok""#, #""OK""#, #""error""#, #""calibrating""#, #""kW""#, #""""#, #""a\"b""#])
            case 6: pick([#""ug/m3""#, #""\u00b5g""#, #""é""#, #""tab\there""#, #""2026-11-23T10:15:00Z""#])
            case 7: pick(["null", "true", "false"])
            case 8: pick(["{}", "[1,2]", #"{"a":[1,{"b":null}]}"#])
            default: pick(["", "x", "\"", "1 2"])
            }
        }
        func space() -> String {
            switch Int.random(in: 0..<60, using: &random) {
            case 0: "\t"
            case 1: "\n"
            case 2: "\r\n"
            case 3..<10: " "
            case 10: "  "
            default: ""
            }
        }
        // Half of them well typed, as sensors mostly send, spaces aside: each field once or
        // twice with a value of its kind, now and then one value of any kind.
        func typed(_ k: Int) -> String {
            if Int.random(in: 0..<12, using: &random) == 0 { return value() }
            switch k {
            case 2: return pick([#""kW""#, #""ug/m3""#, #""""#, #""dB(A)""#])
            case 3: return #""ok""#
            case 4: return String(Int.random(in: -5...100_000, using: &random))
            default: return number()
            }
        }
        var members: [String] = []
        if Bool.random(using: &random) {
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let k = Int.random(in: 0..<keys.count, using: &random)
                members.append(space() + "\"" + keys[k] + "\"" + space() + ":" + space() + typed(k) + space())
            }
        } else {
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                let key = pick(keys + ["pm10", "note", "va\\u006cue", ""])
                members.append(space() + "\"" + key + "\"" + space() + ":" + space() + value() + space())
            }
        }
        var text =
            space() + "{" + members.joined(separator: pick([",", ",", ",", ",", ",", ", ", ",,", ";"])) + "}" + space()
        switch Int.random(in: 0..<30, using: &random) {
        case 0: text += "x"
        case 1: text.removeLast()
        case 2: text = String(text.dropFirst())
        default: break
        }
        return text
    }

    /// Field names to decode with: the defaults; others; two fields of one name, an empty
    /// name, names with a quote, a backslash or a byte outside ASCII (never expected, only
    /// looked up); and keys read without expecting any.
    static let namings: [(names: JSONReadingDecoder.FieldNames, predicting: Bool)] = {
        var other = JSONReadingDecoder.FieldNames()
        other.value = "v"
        other.time = "time"
        other.seq = "n"
        var odd = JSONReadingDecoder.FieldNames()
        odd.seq = "value"
        odd.unit = ""
        odd.status = #"st"at"#
        odd.time = "zeit✓"
        var slash = JSONReadingDecoder.FieldNames()
        slash.unit = #"u\n"#
        return [
            (JSONReadingDecoder.FieldNames(), true), (other, true), (odd, true), (slash, true),
            (JSONReadingDecoder.FieldNames(), false),
        ]
    }()

    @Test(
        "taken payloads read as decode reads their text, whatever the field names, through the route's size limit too (property)",
        arguments: 0..<5)
    func grammar(naming: Int) {
        let (names, predicting) = Self.namings[naming]
        let decoder = JSONReadingDecoder(fields: names, predictingKeys: predicting)
        let limited = PayloadDecoder(maxBytes: 48, jsonFields: names)
        // A key as a payload writes it: quotes and backslashes escaped.
        let keys = [names.value, names.time, names.unit, names.status, names.seq].map {
            String(JSONText.quoted($0).dropFirst().dropLast())
        }
        var random = SeededRandom(seed: 10 + UInt64(naming))
        var taken = 0
        var leftButDecoded = 0
        for _ in 0..<20_000 {
            let payload = Self.payload(&random, keys: keys)
            let escaped = Self.escaped(Array(payload.utf8))
            let outcome = check(decoder, escaped, payload)
            if outcome != .left {
                taken += 1
            } else if (try? decoder.decode(Array(payload.utf8), arrival: arrival)) != nil {
                leftButDecoded += 1
            }
            // Through the route's decoder, with its size limit: taken only under it, and then
            // as its `decode` reads the text.
            var fast: [Reading] = []
            if escaped.withUnsafeBufferPointer({ limited.decodeEscaped($0, arrival: arrival, into: &fast) }) {
                var general: [Reading] = []
                #expect(escaped.count <= 48)
                #expect(throws: Never.self) {
                    try limited.decode(Array(payload.utf8), arrival: arrival, into: &general)
                }
                #expect(fast == general, "\(payload)")
            }
        }
        // The mix reaches both sides: many taken, and many decode reads that this left.
        #expect(taken > 400, "taken \(taken), left to decode \(leftButDecoded)")
        #expect(leftButDecoded > 400, "taken \(taken), left to decode \(leftButDecoded)")
    }

    @Test(
        "escaped text changed byte by byte: whatever is taken is a JSON string whose text decode reads the same (property)"
    )
    func mutated() {
        let decoder = JSONReadingDecoder()
        var random = SeededRandom(seed: 12)
        let base = Array(#"{"value":870.47,"ts":1795400000000,"unit":"kW","status":"ok","seq":1}"#.utf8)
        let palette: [UInt8] = Array(#"\"{}:, 0129.-eE+aokvu/"#.utf8) + [0x09, 0x0A, 0x00, 0x7F, 0xC3, 0xA9, 0xFF]
        var taken = 0
        for _ in 0..<30_000 {
            var text = Self.escaped(base)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0..<text.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: text[at] = palette.randomElement(using: &random)!
                case 1: text.insert(palette.randomElement(using: &random)!, at: at)
                default: text.remove(at: at)
                }
            }
            if check(decoder, text, "\(text)") != .left { taken += 1 }
        }
        #expect(taken > 1_000, "taken \(taken)")
    }
}
