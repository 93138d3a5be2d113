/// Decodes a JSON object payload such as
/// `{"value": 41.5, "ts": "2026-11-23T10:15:00+07:00", "unit": "ug/m3", "status": "ok", "seq": 1842}`.
///
/// `ts` may be RFC 3339 text or epoch seconds, milliseconds, microseconds or nanoseconds
/// (told apart by magnitude); without it the reading takes the arrival time.
public struct JSONReadingDecoder: Sendable {
    public struct FieldNames: Sendable, Equatable {
        public var value = "value"
        public var time = "ts"
        public var unit = "unit"
        public var status = "status"
        public var seq = "seq"
        public init() {}
    }

    public var fields: FieldNames { names.fields }
    private var keys: [[UInt8]] { names.keys }
    private var quoted: [[UInt8]] { names.quoted }
    /// The names, boxed: `decode`'s member closure captures the decoder, and a copy of the
    /// names themselves (five strings, two arrays) was retained and released per payload.
    let names: Names

    final class Names: Sendable {
        let fields: FieldNames
        let keys: [[UInt8]]
        /// The keys as a payload usually writes them, in this order, quoted with their colon
        /// (`"value":`): found with one comparison each (`JSONScanner.members(predicting:_:)`).
        /// Empty for a key that would not read back as itself (a quote, a backslash, a byte
        /// outside printable ASCII) or that an earlier key shadows.
        let quoted: [[UInt8]]
        /// `quoted` as it reads inside a feed line's JSON string (`\"value\":`), all in one
        /// array, each key's bytes at its range (empty where `quoted` is): for
        /// `decodeEscaped`.
        let escaped: [UInt8]
        let escapedRanges: [Range<Int>]

        init(fields: FieldNames, predictingKeys: Bool) {
            self.fields = fields
            let keys = [fields.value, fields.time, fields.unit, fields.status, fields.seq].map { Array($0.utf8) }
            self.keys = keys
            quoted = keys.enumerated().map { index, key in
                guard predictingKeys else { return [] }
                let plain = key.allSatisfy {
                    $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\")
                }
                guard plain, keys.firstIndex(of: key) == index else { return [] }
                return [UInt8(ascii: "\"")] + key + [UInt8(ascii: "\""), UInt8(ascii: ":")]
            }
            var escaped: [UInt8] = []
            var ranges: [Range<Int>] = []
            for key in quoted {
                let start = escaped.count
                if !key.isEmpty {
                    escaped +=
                        [UInt8(ascii: "\\")] + key.dropLast(2) + [
                            UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: ":"),
                        ]
                }
                ranges.append(start..<escaped.count)
            }
            self.escaped = escaped
            escapedRanges = ranges
        }
    }

    public init(fields: FieldNames = FieldNames()) { self.init(fields: fields, predictingKeys: true) }

    /// `predictingKeys` false: every key read as a string and looked up (for the tests that
    /// check the two ways agree).
    init(fields: FieldNames, predictingKeys: Bool) {
        names = Names(fields: fields, predictingKeys: predictingKeys)
    }

    /// One reading from a payload that must hold exactly one (the `value` field).
    public func decode(_ payload: [UInt8], arrival: EventTime) throws(PayloadError) -> Reading {
        var readings: [Reading] = []
        try decode(payload, arrival: arrival, into: &readings)
        guard readings.count == 1 else {
            throw PayloadError(.missingField, "no '\(fields.value)' field in the JSON object")
        }
        return readings[0]
    }

    /// Appends the payload's readings: the `value` field's, or, without one, one per number
    /// at the top level (`{"pm25": 41, "pm10": 60}`), named after its key.
    public func decode(_ payload: [UInt8], arrival: EventTime, into readings: inout [Reading]) throws(PayloadError) {
        try payload.withUnsafeBufferPointer { (buffer) throws(PayloadError) in
            try decode(buffer, arrival: arrival, into: &readings)
        }
    }

    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, arrival: EventTime, into readings: inout [Reading])
        throws(PayloadError)
    {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        if scanner.atEnd { throw PayloadError(.empty, "empty payload") }
        guard scanner.peek() == UInt8(ascii: "{") else {
            let start = String(
                decoding: UnsafeBufferPointer(
                    rebasing: bytes[scanner.position..<min(bytes.count, scanner.position + 24)]),
                as: UTF8.self)
            var probe = scanner
            let isJSON = (try? probe.skipValue()) != nil
            let what = isJSON ? "JSON \(scanner.kindOfValue())" : "not JSON"
            throw PayloadError(.malformed, "payload is \(what), expected a JSON object; it starts '\(start)'")
        }
        var value: Double?
        var time: EventTime?
        var unit: String?
        var status = ReadingStatus.ok
        var seq: Int64?
        var others: [(key: Range<Int>, value: Double)] = []
        try scanner.members(predicting: quoted) { (scanner, range, escaped, known) throws(PayloadError) in
            switch known >= 0 ? known : escaped ? -1 : keyIndex(UnsafeBufferPointer(rebasing: bytes[range])) {
            case 0:
                guard isNumberStart(scanner.peek()) else {
                    throw PayloadError(
                        .badField, "field '\(fields.value)' must be a number, found \(scanner.kindOfValue())")
                }
                let number = try scanner.number()
                guard number.isFinite else {
                    throw PayloadError(.badField, "field '\(fields.value)' is not a finite number")
                }
                value = number
            case 1:
                time = try decodeTime(&scanner)
            case 2:
                if scanner.peek() == UInt8(ascii: "n") {
                    try scanner.literal("null")
                } else {
                    guard scanner.peek() == UInt8(ascii: "\"") else {
                        throw PayloadError(
                            .badField, "field '\(fields.unit)' must be a string, found \(scanner.kindOfValue())")
                    }
                    unit = try scanner.string()
                }
            case 3:
                guard scanner.peek() == UInt8(ascii: "\"") else {
                    throw PayloadError(
                        .badField, "field '\(fields.status)' must be a string, found \(scanner.kindOfValue())")
                }
                // "ok", nearly every reading's, is read in place; anything else as text.
                if scanner.skip(#""ok""#) {
                    status = .ok
                    return
                }
                let text = try scanner.string()
                guard let parsed = Self.status(text) else {
                    throw PayloadError(
                        .badField, "field '\(fields.status)' is '\(text)'; expected ok, calibrating or error")
                }
                status = parsed
            case 4:
                guard isNumberStart(scanner.peek()) else {
                    throw PayloadError(
                        .badField, "field '\(fields.seq)' must be an integer, found \(scanner.kindOfValue())")
                }
                let number = try scanner.number()
                guard let integer = Self.seq(number) else {
                    throw PayloadError(.badField, "field '\(fields.seq)' must be an integer, found \(number)")
                }
                seq = integer
            default:
                if !escaped && isNumberStart(scanner.peek()) {
                    let number = try scanner.number()
                    if number.isFinite { others.append((range, number)) }
                } else {
                    try scanner.skipValue(depth: 1)
                }
            }
        }
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw scanner.error("text after the JSON object") }
        if let value {
            readings.append(
                Reading(value: value, time: time ?? arrival, unit: unit, status: status, seq: seq, timed: time != nil))
            return
        }
        guard !others.isEmpty else {
            throw PayloadError(.missingField, "no '\(fields.value)' field and no other number in the JSON object")
        }
        for (key, number) in others {
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[key]), as: UTF8.self)
            readings.append(
                Reading(
                    value: number, time: time ?? arrival, unit: unit, status: status, seq: seq, field: name,
                    timed: time != nil))
        }
    }

    func keyIndex(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        for (index, candidate) in keys.enumerated() where candidate.count == key.count {
            if candidate.withUnsafeBufferPointer({ Bytes.equal($0, key) }) { return index }
        }
        return -1
    }

    func isNumberStart(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte == UInt8(ascii: "-") || (byte >= 0x30 && byte <= 0x39)
    }

    /// A `seq` field's number as the sequence number it is: whole, and within what the seq
    /// memory keeps; nil otherwise.
    static func seq(_ number: Double) -> Int64? {
        guard number == number.rounded(), abs(number) < Double(SeqMemory.seqs.upperBound) else { return nil }
        return Int64(number)
    }

    private func decodeTime(_ scanner: inout JSONScanner) throws(PayloadError) -> EventTime {
        if scanner.peek() == UInt8(ascii: "\"") {
            let (range, _) = try scanner.rawString()
            guard let time = RFC3339.parse(UnsafeBufferPointer(rebasing: scanner.bytes[range])) else {
                let text = String(decoding: UnsafeBufferPointer(rebasing: scanner.bytes[range]), as: UTF8.self)
                throw PayloadError(
                    .badTime, "field '\(fields.time)' is '\(text.prefix(64))'; expected RFC 3339 or epoch seconds/ms")
            }
            return time
        }
        guard isNumberStart(scanner.peek()) else {
            throw PayloadError(
                .badTime,
                "field '\(fields.time)' must be RFC 3339 text or an epoch number, found \(scanner.kindOfValue())")
        }
        let number = try scanner.number()
        guard let time = Self.epoch(number) else {
            throw PayloadError(
                .badTime, "field '\(fields.time)' is \(number), not epoch seconds, ms, µs or ns of the years 0001-9999")
        }
        return time
    }

    /// Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude
    /// (1e11 seconds is the year 5138; 1e11 milliseconds is 1973). Negative numbers can only be
    /// seconds (before 1970); whatever falls outside the years 0001-9999 is nil.
    public static func epoch(_ number: Double) -> EventTime? {
        guard number.isFinite else { return nil }
        switch number {
        case ..<1e11: return EventTime(checkedSeconds: number)
        case ..<1e14: return EventTime(checkedSeconds: number / 1e3)
        case ..<1e17: return EventTime(checkedSeconds: number / 1e6)
        case ..<1e20: return EventTime(checkedSeconds: number / 1e9)
        default: return nil
        }
    }

    static func status(_ text: String) -> ReadingStatus? {
        if text == "ok" { return .ok }  // nearly every reading: no lowercased copy
        return switch text.lowercased() {
        case "ok", "measuring", "normal", "valid": .ok
        case "calibrating", "calibration", "maintenance": .calibrating
        case "error", "fault", "failed": .error
        default: nil
        }
    }
}
