/// SenML (RFC 8428) in JSON: a pack of records with base name, base time, base unit, base
/// value and base sum. Each numeric record gives a reading named `bn + n`; times below 2^28
/// are relative to the arrival time (§4.5.3). What the RFC says a recipient must refuse is
/// refused: a field it does not understand whose label ends in `_` (§4.4), a name outside
/// `[A-Za-z0-9][A-Za-z0-9:./_-]*` (§4.5.1), a base version above 10 (§4.4). Records carrying a
/// string, boolean or data value are not measurements parkd averages: they are skipped, and
/// a pack of nothing else is refused with that reason.
public enum SenMLDecoder {
    public static func decode(_ bytes: [UInt8], arrival: EventTime, into readings: inout [Reading]) throws(PayloadError)
    {
        guard case .array(let records) = try JSONValue.parse(bytes) else {
            throw PayloadError(.malformed, "SenML must be a JSON array of records")
        }
        guard !records.isEmpty else { throw PayloadError(.missingField, "SenML pack has no records") }
        var baseName = ""
        var baseTime = 0.0
        var baseUnit: String?
        var baseValue = 0.0
        var baseSum = 0.0
        var skipped: String?
        let before = readings.count
        for (index, record) in records.enumerated() {
            guard case .object(let members) = record else {
                throw PayloadError(.malformed, "SenML record \(index) is \(record.kind), expected an object")
            }
            for (label, _) in members where label.hasSuffix("_") {
                throw PayloadError(
                    .badField,
                    "SenML record \(index): must-understand field '\(label.prefix(32))' is not supported (RFC 8428 §4.4)"
                )
            }
            func number(_ label: String) throws(PayloadError) -> Double? {
                guard let node = record[label] else { return nil }
                guard let value = node.number, value.isFinite else {
                    throw PayloadError(
                        .badField, "SenML record \(index): \(label) must be a finite number, found \(node.kind)")
                }
                return value
            }
            func text(_ label: String) throws(PayloadError) -> String? {
                guard let node = record[label] else { return nil }
                guard let value = node.string else {
                    throw PayloadError(
                        .badField, "SenML record \(index): \(label) must be a string, found \(node.kind)")
                }
                return value
            }
            if let version = try number("bver"), version > 10 || version != version.rounded() {
                throw PayloadError(
                    .badField, "SenML record \(index): base version \(version) is not supported (this reads up to 10)")
            }
            if let bn = try text("bn") { baseName = bn }
            if let bt = try number("bt") { baseTime = bt }
            if let bu = try text("bu") { baseUnit = bu }
            if let bv = try number("bv") { baseValue = bv }
            if let bs = try number("bs") { baseSum = bs }
            let v = try number("v")
            let s = try number("s")
            let name = baseName + (try text("n") ?? "")
            if v == nil && s == nil {
                if let label = ["vs", "vb", "vd"].first(where: { record[$0] != nil }) {
                    skipped = skipped ?? "record \(index) holds a non-numeric value (\(label))"
                    continue
                }
                // A record of base fields alone sets them for the records after it.
                guard record["n"] != nil || record["bv"] != nil else { continue }
            }
            // A value is `bv + v`; a record with only a sum reports the integrated `bs + s`.
            let value = v.map { $0 + baseValue } ?? s.map { $0 + baseSum } ?? baseValue
            guard value.isFinite else { throw PayloadError(.badField, "SenML record \(index): value is not finite") }
            guard !name.isEmpty else {
                throw PayloadError(.missingField, "SenML record \(index) has no name (bn + n)")
            }
            guard FieldName.isValid(name) else {
                throw PayloadError(
                    .badField,
                    "SenML record \(index): name '\(name.prefix(64))' is not [A-Za-z0-9][A-Za-z0-9:./_-]* (RFC 8428 §4.5.1)"
                )
            }
            let relative = baseTime + (try number("t") ?? 0)
            let time: EventTime?
            if relative < 268_435_456 {
                // Relative to the arrival time; bounded before it is added, so it cannot overflow.
                let offset = (relative * 1000).rounded()
                time = abs(offset) < 4e14 ? EventTime(checkedMilliseconds: arrival.milliseconds + Int64(offset)) : nil
            } else {
                time = EventTime(checkedSeconds: relative)
            }
            guard let time else {
                throw PayloadError(.badTime, "SenML record \(index): time \(relative) is outside the years 0001-9999")
            }
            let unit = try text("u") ?? baseUnit
            readings.append(
                Reading(
                    value: value, time: time, unit: unit, field: name,
                    timed: relative >= 268_435_456))
        }
        guard readings.count > before else {
            throw PayloadError(
                skipped == nil ? .missingField : .badField,
                "SenML pack has no numeric record" + (skipped.map { "; \($0): parkd takes numbers only" } ?? ""))
        }
    }
}
