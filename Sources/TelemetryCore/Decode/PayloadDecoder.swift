/// The payload formats parkd reads, chosen per topic pattern.
public enum PayloadFormat: String, Sendable, CaseIterable {
    /// `{"value": 41.5, "ts": ..., "unit": ..., "status": ..., "seq": ...}`, or several numbers.
    case json
    /// A bare number such as `41.5`; the reading takes its arrival time.
    case number
    /// RFC 8428 SenML in JSON.
    case senml
    /// InfluxDB line protocol.
    case line
    /// ChirpStack v4 uplink events.
    case chirpstack
    /// The Things Stack v3 uplink messages.
    case tts
}

/// Turns a payload into readings in the format configured for its topic, refusing payloads
/// over the size limit before reading them.
public struct PayloadDecoder: Sendable {
    public let format: PayloadFormat
    public let maxBytes: Int
    public let json: JSONReadingDecoder
    public let lorawan: LoRaWANDecoder?

    public init(
        format: PayloadFormat = .json, maxBytes: Int = 65536, jsonFields: JSONReadingDecoder.FieldNames = .init(),
        lorawanPaths: [(name: String, path: [String])] = []
    ) {
        self.format = format
        self.maxBytes = maxBytes
        json = JSONReadingDecoder(fields: jsonFields)
        switch format {
        case .chirpstack: lorawan = LoRaWANDecoder(server: .chirpstack, paths: lorawanPaths)
        case .tts: lorawan = LoRaWANDecoder(server: .tts, paths: lorawanPaths)
        default: lorawan = nil
        }
    }

    public func decode(_ payload: [UInt8], arrival: EventTime, into readings: inout [Reading]) throws(PayloadError) {
        try payload.withUnsafeBufferPointer { (buffer) throws(PayloadError) in
            try decode(buffer, arrival: arrival, into: &readings)
        }
    }

    /// As `decode(_:arrival:into:)`, reading the payload in place (JSON and bare numbers, the
    /// common formats, copy nothing).
    public func decode(_ payload: UnsafeBufferPointer<UInt8>, arrival: EventTime, into readings: inout [Reading])
        throws(PayloadError)
    {
        guard payload.count <= maxBytes else {
            throw PayloadError(.tooLarge, "payload of \(payload.count) bytes is over the limit of \(maxBytes)")
        }
        switch format {
        case .json: try json.decode(payload, arrival: arrival, into: &readings)
        case .number: readings.append(Reading(value: try Self.number(payload), time: arrival, timed: false))
        case .senml: try SenMLDecoder.decode(Array(payload), arrival: arrival, into: &readings)
        case .line: try LineProtocolDecoder.decode(Array(payload), arrival: arrival, into: &readings)
        case .chirpstack, .tts:
            guard let lorawan else { throw PayloadError(.malformed, "no LoRaWAN decoder for this route") }
            try lorawan.decode(Array(payload), arrival: arrival, into: &readings)
        }
    }

    /// As `decode`, for a payload still escaped inside a feed line's JSON string (see
    /// `JSONReadingDecoder.decodeEscaped`): true when it gave exactly what `decode` gives the
    /// unescaped payload; false, with `readings` untouched, for the caller to unescape it and
    /// call `decode`.
    public func decodeEscaped(_ escaped: UnsafeBufferPointer<UInt8>, arrival: EventTime, into readings: inout [Reading])
        -> Bool
    {
        // The unescaped payload is never longer: within the limit if this is.
        guard format == .json, escaped.count <= maxBytes else { return false }
        return json.decodeEscaped(escaped, arrival: arrival, into: &readings)
    }

    static func number(_ buffer: UnsafeBufferPointer<UInt8>) throws(PayloadError) -> Double {
        var scanner = JSONScanner(buffer)
        scanner.skipWhitespace()
        guard !scanner.atEnd else { throw PayloadError(.empty, "empty payload") }
        let value: Double
        do throws(PayloadError) {
            value = try scanner.number()
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw PayloadError(.malformed, "trailing text") }
        } catch {
            throw PayloadError(.malformed, "payload is not a bare number: '\(LogText.excerpt(Array(buffer)))'")
        }
        guard value.isFinite else { throw PayloadError(.badField, "the number is not finite") }
        return value
    }
}

/// Short, printable excerpts of untrusted bytes for error messages.
enum LogText {
    static func excerpt(_ bytes: [UInt8], limit: Int = 32) -> String {
        let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        return String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
    }
}
