/// One line of a feed file (JSON Lines), as `parksim record` writes and `parkd replay` reads:
/// `{"t": 1795400000.125, "topic": "parks/…", "payload": "…"}` with `payload_b64` instead of
/// `payload` for bytes that are not text, and optional `qos` and `retain`.
public struct FeedRecord: Sendable, Equatable {
    public var time: EventTime
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool

    public init(time: EventTime, topic: String, payload: [UInt8], qos: Int = 0, retain: Bool = false) {
        self.time = time
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }

    /// Reads one feed line with the byte scanner (no document tree): replay speed depends on it.
    public static func parse(line: [UInt8]) throws(FeedError) -> FeedRecord {
        try line.withUnsafeBufferPointer { (buffer) throws(FeedError) in try parse(buffer) }
    }

    /// As `parse(line:)`, straight from a reader's buffer without copying the line.
    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(FeedError) -> FeedRecord {
        var bytes: [UInt8] = []
        let placed = try parse(buffer, into: &bytes)
        return FeedRecord(
            time: placed.time, topic: String(decoding: bytes[placed.topic], as: UTF8.self),
            payload: Array(bytes[placed.payload]), qos: placed.qos, retain: placed.retain)
    }

    /// A feed line whose topic and payload bytes were appended to a shared buffer (a replay
    /// batch's): no allocation per line.
    public struct Placed: Sendable, Equatable {
        public var time: EventTime
        /// The topic's UTF-8 bytes (checked), in the buffer.
        public var topic: Range<Int>
        public var payload: Range<Int>
        public var qos: Int
        public var retain: Bool

        public init(time: EventTime, topic: Range<Int>, payload: Range<Int>, qos: Int = 0, retain: Bool = false) {
            self.time = time
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// As `parse(_:)`, appending the topic's and payload's bytes (escapes resolved, base64
    /// decoded) to `bytes` instead of making a String and an array of them. A refused line
    /// leaves `bytes` as it was.
    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8]) throws(FeedError)
        -> Placed
    {
        let end = bytes.count
        do {
            return try place(buffer, into: &bytes)
        } catch {
            bytes.removeLast(bytes.count - end)
            throw error
        }
    }

    private static func place(_ buffer: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8]) throws(FeedError)
        -> Placed
    {
        let end = bytes.count
        if let placed = placeWritten(buffer, into: &bytes) { return placed }
        bytes.removeLast(bytes.count - end)
        return try placeAny(buffer, into: &bytes)
    }

    /// A line exactly as `parksim record` and `parkd` write it, `{"t":…,"topic":"…","payload":"…"}`
    /// with no space and nothing else, read without looking up its keys; nil for any other
    /// line (which `placeAny` then reads, or refuses with its reason). The values go through
    /// the same scanner calls as there, so a line this takes gives the same record.
    static func placeWritten(_ buffer: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8]) -> Placed? {
        guard let head = placeWrittenHead(buffer, into: &bytes) else { return nil }
        return placeWrittenPayload(buffer, head, into: &bytes)
    }

    /// The rest of `placeWritten` after its head: the payload unescaped onto `bytes` (in one
    /// pass: it ends at the line's closing `"}`, so no first pass looks for its end). Nil,
    /// with `bytes` as it was, for a payload that pass leaves to the general reader.
    public static func placeWrittenPayload(
        _ buffer: UnsafeBufferPointer<UInt8>, _ head: WrittenHead, into bytes: inout [UInt8]
    ) -> Placed? {
        let start = bytes.count
        guard JSONScanner.appendClosed(UnsafeBufferPointer(rebasing: buffer[head.payload]), to: &bytes) else {
            return nil
        }
        return Placed(time: head.time, topic: head.topic, payload: start..<bytes.count, qos: 0, retain: false)
    }

    /// A written line's head, as `placeWritten` reads it.
    public struct WrittenHead: Sendable {
        public var time: EventTime
        /// The topic's bytes, appended to the caller's buffer.
        public var topic: Range<Int>
        /// Where the payload's text lies in the line, still escaped (what is between
        /// `"payload":"` and the line's closing `"}`, not yet checked).
        public var payload: Range<Int>
    }

    /// A written line's head: its time, its topic (appended to `bytes`, as `placeWritten`
    /// does) and where its payload lies. Nil for a line `placeWritten` does not take; `bytes`
    /// may then hold a topic, for the caller to drop.
    public static func placeWrittenHead(_ buffer: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8])
        -> WrittenHead?
    {
        var scanner = JSONScanner(buffer)
        guard scanner.skip(#"{"t":"#) else { return nil }
        do throws(PayloadError) {
            guard let first = scanner.peek(), first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") else {
                return nil
            }
            let t = try scanner.number()
            guard t > 0, t < 1e11, scanner.skip(#","topic":""#) else { return nil }
            scanner.position -= 1  // back to the string's opening quote
            let topic = try scanner.appendString(to: &bytes, validate: true)
            guard !topic.isEmpty, scanner.skip(#","payload":""#) else { return nil }
            let end = buffer.count - 2
            guard end >= scanner.position, buffer[end] == UInt8(ascii: "\""), buffer[end + 1] == UInt8(ascii: "}")
            else { return nil }
            return WrittenHead(time: EventTime(seconds: t), topic: topic, payload: scanner.position..<end)
        } catch {
            return nil
        }
    }

    static func placeAny(_ buffer: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8]) throws(FeedError)
        -> Placed
    {
        var scanner = JSONScanner(buffer)
        var t: Double?
        var topic: Range<Int>?
        var payload: Range<Int>?
        var base64: Range<Int>?
        var qos = 0
        var retain = false
        do throws(PayloadError) {
            scanner.skipWhitespace()
            guard scanner.peek() == UInt8(ascii: "{") else {
                throw PayloadError(.malformed, "a feed line must be a JSON object")
            }
            try scanner.members { (scanner, key, _) throws(PayloadError) in
                switch Self.key(UnsafeBufferPointer(rebasing: scanner.bytes[key])) {
                case .t:
                    guard scanner.kindOfValue() == "a number" else {
                        throw PayloadError(.malformed, "'t' must be the arrival time in epoch seconds")
                    }
                    t = try scanner.number()
                case .topic:
                    guard scanner.peek() == UInt8(ascii: "\"") else {
                        throw PayloadError(.malformed, "'topic' must be a non-empty string")
                    }
                    topic = try scanner.appendString(to: &bytes, validate: true)
                case .payload:
                    guard scanner.peek() == UInt8(ascii: "\"") else {
                        throw PayloadError(.malformed, "'payload' and 'payload_b64' must be strings")
                    }
                    payload = try scanner.appendString(to: &bytes)
                case .payloadBase64:
                    guard scanner.peek() == UInt8(ascii: "\"") else {
                        throw PayloadError(.malformed, "'payload' and 'payload_b64' must be strings")
                    }
                    base64 = try scanner.appendString(to: &bytes, validate: true)
                case .qos:
                    let n = scanner.kindOfValue() == "a number" ? try scanner.number() : -1
                    guard n == 0 || n == 1 || n == 2 else { throw PayloadError(.malformed, "'qos' must be 0, 1 or 2") }
                    qos = Int(n)
                case .retain:
                    if scanner.peek() == UInt8(ascii: "t") {
                        try scanner.literal("true")
                        retain = true
                    } else if scanner.peek() == UInt8(ascii: "f") {
                        try scanner.literal("false")
                    } else {
                        throw PayloadError(.malformed, "'retain' must be true or false")
                    }
                case nil:
                    try scanner.skipValue(depth: 1)
                }
            }
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw PayloadError(.malformed, "text after the JSON object") }
        } catch {
            throw FeedError(error.detail)
        }
        guard let t, t > 0, t < 1e11 else { throw FeedError("'t' must be the arrival time in epoch seconds") }
        guard let topic, !topic.isEmpty else { throw FeedError("'topic' must be a non-empty string") }
        let placed: Range<Int>
        switch (payload, base64) {
        case (let text?, nil): placed = text
        case (nil, let text?):
            guard let decoded = Base64.decode(String(decoding: bytes[text], as: UTF8.self)) else {
                throw FeedError("'payload_b64' is not valid base64")
            }
            let start = bytes.count
            bytes.append(contentsOf: decoded)
            placed = start..<bytes.count
        case (nil, nil): throw FeedError("no 'payload' or 'payload_b64'")
        case (.some, .some): throw FeedError("both 'payload' and 'payload_b64'; give one")
        }
        return Placed(time: EventTime(seconds: t), topic: topic, payload: placed, qos: qos, retain: retain)
    }

    private enum Key { case t, topic, payload, payloadBase64, qos, retain }

    /// A member's key (as its raw bytes; an escaped key matches none, as before).
    private static func key(_ raw: UnsafeBufferPointer<UInt8>) -> Key? {
        func equals(_ text: StaticString) -> Bool {
            Bytes.equal(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount), raw)
        }
        switch raw.count {
        case 1: return equals("t") ? .t : nil
        case 3: return equals("qos") ? .qos : nil
        case 5: return equals("topic") ? .topic : nil
        case 6: return equals("retain") ? .retain : nil
        case 7: return equals("payload") ? .payload : nil
        case 11: return equals("payload_b64") ? .payloadBase64 : nil
        default: return nil
        }
    }

    public var line: String {
        var text = "{\"t\":" + String(format3: time)
        text += ",\"topic\":"
        JSONText.appendQuoted(topic, to: &text)
        if let utf8 = String(validating: payload, as: UTF8.self),
            !utf8.unicodeScalars.contains(where: { $0.value == 0 })
        {
            text += ",\"payload\":"
            JSONText.appendQuoted(utf8, to: &text)
        } else {
            text += ",\"payload_b64\":\"" + Base64.encode(payload) + "\""
        }
        if qos != 0 { text += ",\"qos\":\(qos)" }
        if retain { text += ",\"retain\":true" }
        return text + "}"
    }
}

public struct FeedError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    /// Epoch seconds with exactly three decimals, from whole milliseconds (no float rounding).
    public init(format3 time: EventTime) {
        let ms = time.milliseconds
        let whole = ms / 1000
        let fraction = Int(abs(ms % 1000))
        self = "\(whole)." + (fraction < 100 ? (fraction < 10 ? "00" : "0") : "") + String(fraction)
    }
}

/// JSON string quoting shared by the text outputs.
public enum JSONText {
    /// `value` as a JSON string, quotes included (also a YAML double-quoted scalar).
    public static func quoted(_ value: String) -> String {
        var text = ""
        appendQuoted(value, to: &text)
        return text
    }

    public static func appendQuoted(_ value: String, to text: inout String) {
        if isPlain(value) {
            text += "\""
            text += value
            text += "\""
            return
        }
        var bytes: [UInt8] = []
        appendQuoted(value, to: &bytes)
        text += String(decoding: bytes, as: UTF8.self)
    }

    /// Printable ASCII other than a quote or a backslash: nothing to escape, so appended whole,
    /// not a scalar at a time (the summaries quote some thousand names a second at 100 000 series).
    static func isPlain(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }
    }

    /// `value` as a JSON string, quotes included, appended as UTF-8: the one escaping every
    /// text output goes through.
    public static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        if isPlain(value) {
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: #"\""#.utf8)
            case "\\": bytes.append(contentsOf: #"\\"#.utf8)
            case "\n": bytes.append(contentsOf: #"\n"#.utf8)
            case "\r": bytes.append(contentsOf: #"\r"#.utf8)
            case "\t": bytes.append(contentsOf: #"\t"#.utf8)
            // C1 controls and line separators too: the lines are read in terminals and by JavaScript.
            case _
            where scalar.value < 0x20 || (0x7f..<0xa0).contains(scalar.value) || scalar.value == 0x2028
                || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                bytes.append(contentsOf: #"\u"#.utf8)
                bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 4 - hex.count))
                bytes.append(contentsOf: hex.utf8)
            default: UTF8.encode(scalar, into: { bytes.append($0) })
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let lookup: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8).filter { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            var values: [UInt8] = []
            var padding = 0
            for k in 0..<4 {
                let byte = input[index + k]
                if byte == UInt8(ascii: "=") {
                    guard index + 4 == input.count, k >= 2 else { return nil }
                    padding += 1
                    values.append(0)
                } else {
                    guard padding == 0 else { return nil }
                    let value = lookup[Int(byte)]
                    guard value != 0xFF else { return nil }
                    values.append(value)
                }
            }
            out.append(values[0] << 2 | values[1] >> 4)
            if padding < 2 { out.append((values[1] & 0x0F) << 4 | values[2] >> 2) }
            if padding < 1 { out.append((values[2] & 0x03) << 6 | values[3]) }
            index += 4
        }
        return out
    }
}
