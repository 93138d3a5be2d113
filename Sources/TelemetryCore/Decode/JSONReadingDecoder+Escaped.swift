/// A payload read as it lies inside a feed line's JSON string, its quotes escaped
/// (`{\"value\":41.5,\"ts\":1795400000000,\"unit\":\"kW\",\"status\":\"ok\",\"seq\":1}`),
/// without first unescaping it into a buffer of its own: a replay's reading thread spent a
/// third of its time copying payloads out of their lines before reading them.
extension JSONReadingDecoder {
    /// Appends the readings of the payload whose escaped text is `escaped` (the bytes between a
    /// feed line's `"payload":"` and its closing quote), and returns true, only where the
    /// result is exactly what `decode` makes of the unescaped payload: one object whose members
    /// are this decoder's five fields, with `value`, a number or epoch `ts`, a unit of printable
    /// ASCII, status `"ok"` and an integer `seq`, spaces allowed between its parts, and no
    /// escape in it but its quotes. Anything else (another key, another escape, a string `ts`,
    /// a status other than ok, an error of any kind) returns false with `readings` untouched,
    /// for `decode` to read or refuse.
    public func decodeEscaped(
        _ escaped: UnsafeBufferPointer<UInt8>, arrival: EventTime, into readings: inout [Reading]
    ) -> Bool {
        names.escaped.withUnsafeBufferPointer { expected in
            names.escapedRanges.withUnsafeBufferPointer { ranges in
                decodeEscaped(escaped, arrival: arrival, expecting: expected, at: ranges, into: &readings)
            }
        }
    }

    /// `decodeEscaped`, with the keys expected in order as they read escaped (`\"value\":`):
    /// where the next one is exactly here it is stepped over at once, as `decode` does with
    /// its unescaped forms; any other key is read and looked up.
    private func decodeEscaped(
        _ escaped: UnsafeBufferPointer<UInt8>, arrival: EventTime, expecting expected: UnsafeBufferPointer<UInt8>,
        at ranges: UnsafeBufferPointer<Range<Int>>, into readings: inout [Reading]
    ) -> Bool {
        var scanner = JSONScanner(escaped)
        let backslash = UInt8(ascii: "\\")
        let quote = UInt8(ascii: "\"")
        /// Steps over an escaped quote, `\"`.
        func quoteHere(_ scanner: inout JSONScanner) -> Bool {
            guard scanner.position + 1 < escaped.count, escaped[scanner.position] == backslash,
                escaped[scanner.position + 1] == quote
            else { return false }
            scanner.position += 2
            return true
        }
        func spaces(_ scanner: inout JSONScanner) {
            while scanner.peek() == 0x20 { scanner.position += 1 }
        }
        /// A key's or a unit's text between escaped quotes: printable ASCII, no quote and no
        /// escape in it; nil for anything else.
        func plainString(_ scanner: inout JSONScanner) -> UnsafeBufferPointer<UInt8>? {
            guard quoteHere(&scanner) else { return nil }
            let start = scanner.position
            while let byte = scanner.peek(), byte != backslash {
                guard byte >= 0x20, byte < 0x7F, byte != quote else { return nil }
                scanner.position += 1
            }
            let text = UnsafeBufferPointer(rebasing: escaped[start..<scanner.position])
            return quoteHere(&scanner) ? text : nil
        }
        var value: Double?
        var time: EventTime?
        var unit: String?
        var seq: Int64?
        spaces(&scanner)
        guard scanner.peek() == UInt8(ascii: "{") else { return false }
        scanner.position += 1
        do throws(PayloadError) {
            var next = 0
            while true {
                spaces(&scanner)
                let key: Int
                if next < ranges.count, !ranges[next].isEmpty,
                    escaped.count - scanner.position >= ranges[next].count,
                    Bytes.equal(
                        UnsafeBufferPointer(rebasing: expected[ranges[next]]),
                        UnsafeBufferPointer(rebasing: escaped[scanner.position..<scanner.position + ranges[next].count])
                    )
                {
                    key = next
                    scanner.position += ranges[next].count
                    next += 1
                } else {
                    guard let text = plainString(&scanner) else { return false }
                    key = keyIndex(text)
                    spaces(&scanner)
                    guard scanner.peek() == UInt8(ascii: ":") else { return false }
                    scanner.position += 1
                }
                spaces(&scanner)
                switch key {
                case 0:
                    guard isNumberStart(scanner.peek()) else { return false }
                    let number = try scanner.number()
                    guard number.isFinite else { return false }
                    value = number
                case 1:
                    guard isNumberStart(scanner.peek()) else { return false }
                    guard let epoch = Self.epoch(try scanner.number()) else { return false }
                    time = epoch
                case 2:
                    guard let text = plainString(&scanner) else { return false }
                    unit = String(decoding: text, as: UTF8.self)
                case 3:
                    guard quoteHere(&scanner), scanner.skip("ok"), quoteHere(&scanner) else { return false }
                case 4:
                    guard isNumberStart(scanner.peek()) else { return false }
                    guard let integer = Self.seq(try scanner.number()) else { return false }
                    seq = integer
                default:
                    return false
                }
                spaces(&scanner)
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.position += 1
                    continue
                }
                guard scanner.peek() == UInt8(ascii: "}") else { return false }
                scanner.position += 1
                break
            }
        } catch {
            return false
        }
        spaces(&scanner)
        guard scanner.atEnd, let value else { return false }
        readings.append(
            Reading(value: value, time: time ?? arrival, unit: unit, status: .ok, seq: seq, timed: time != nil))
        return true
    }
}
