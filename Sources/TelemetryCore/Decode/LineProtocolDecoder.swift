/// InfluxDB line protocol: `measurement,tag=v field=1.5,other=3i 1795400100000000000`, one
/// point a line. Each numeric field gives a reading named after the field (integers `i`,
/// unsigned `u`, floats); string and boolean fields are skipped. The timestamp is nanoseconds;
/// without one the reading takes its arrival time.
public enum LineProtocolDecoder {
    public static func decode(_ bytes: [UInt8], arrival: EventTime, into readings: inout [Reading]) throws(PayloadError)
    {
        let before = readings.count
        var lineNumber = 0
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            lineNumber += 1
            var line = bytes[lineStart..<lineEnd]
            if line.last == 0x0D { line = line.dropLast() }
            lineStart = lineEnd + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) || line.first == UInt8(ascii: "#") { continue }
            try decodeLine(Array(line), number: lineNumber, arrival: arrival, into: &readings)
        }
        guard readings.count > before else {
            throw PayloadError(.missingField, "line protocol payload has no numeric field")
        }
    }

    /// Splits at unescaped `separator` outside double quotes.
    private static func split(_ bytes: [UInt8], on separator: UInt8, limit: Int = .max) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var current: [UInt8] = []
        var quoted = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") && index + 1 < bytes.count {
                current.append(byte)
                current.append(bytes[index + 1])
                index += 2
                continue
            }
            if byte == UInt8(ascii: "\"") { quoted.toggle() }
            if byte == separator && !quoted && parts.count < limit - 1 {
                parts.append(current)
                current = []
            } else {
                current.append(byte)
            }
            index += 1
        }
        parts.append(current)
        return parts
    }

    private static func unescape(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\") && index + 1 < bytes.count {
                out.append(bytes[index + 1])
                index += 2
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func decodeLine(_ line: [UInt8], number: Int, arrival: EventTime, into readings: inout [Reading])
        throws(PayloadError)
    {
        let sections = split(line, on: 0x20).filter { !$0.isEmpty }
        guard sections.count == 2 || sections.count == 3 else {
            throw PayloadError(.malformed, "line \(number): expected 'measurement[,tags] fields [timestamp]'")
        }
        let measurement = split(sections[0], on: UInt8(ascii: ","))[0]
        guard !measurement.isEmpty else { throw PayloadError(.malformed, "line \(number): no measurement name") }
        var time = arrival
        if sections.count == 3 {
            guard let nanoseconds = Int64(String(decoding: sections[2], as: UTF8.self)),
                let stamped = EventTime(checkedMilliseconds: nanoseconds / 1_000_000)
            else {
                throw PayloadError(
                    .badTime,
                    "line \(number): timestamp '\(String(decoding: sections[2].prefix(32), as: UTF8.self))' is not an integer of nanoseconds in the years 0001-9999"
                )
            }
            time = stamped
        }
        for field in split(sections[1], on: UInt8(ascii: ",")) {
            let pair = split(field, on: UInt8(ascii: "="), limit: 2)
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
                throw PayloadError(
                    .malformed,
                    "line \(number): field '\(String(decoding: field.prefix(32), as: UTF8.self))' is not key=value")
            }
            let name = unescape(pair[0])
            var text = pair[1]
            if text.first == UInt8(ascii: "\"") { continue }  // a string field
            let lower = String(decoding: text, as: UTF8.self).lowercased()
            if ["t", "true", "f", "false"].contains(lower) { continue }  // a boolean field
            if text.last == UInt8(ascii: "i") || text.last == UInt8(ascii: "u") { text.removeLast() }
            guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
                throw PayloadError(
                    .badField,
                    "line \(number): field '\(name)' has value '\(String(decoding: pair[1].prefix(32), as: UTF8.self))', not a number"
                )
            }
            readings.append(Reading(value: value, time: time, field: name, timed: sections.count == 3))
        }
    }
}
