/// SenML (RFC 8428) in JSON: a pack of records with base name, base time, base unit and base
/// value. Each numeric record gives a reading named `bn + n`; times below 2^28 are relative
/// to the arrival time, as the RFC says. Records with string, boolean or data values are skipped.
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
        let before = readings.count
        for (index, record) in records.enumerated() {
            guard case .object = record else {
                throw PayloadError(.malformed, "SenML record \(index) is \(record.kind), expected an object")
            }
            if let bn = record["bn"] {
                guard let text = bn.string else {
                    throw PayloadError(.badField, "SenML record \(index): bn must be a string")
                }
                baseName = text
            }
            if let bt = record["bt"] {
                guard let value = bt.number else {
                    throw PayloadError(.badField, "SenML record \(index): bt must be a number")
                }
                baseTime = value
            }
            if let bu = record["bu"] {
                guard let text = bu.string else {
                    throw PayloadError(.badField, "SenML record \(index): bu must be a string")
                }
                baseUnit = text
            }
            if let bv = record["bv"] {
                guard let value = bv.number else {
                    throw PayloadError(.badField, "SenML record \(index): bv must be a number")
                }
                baseValue = value
            }
            let v = record["v"]
            if v == nil && (record["vs"] != nil || record["vb"] != nil || record["vd"] != nil) { continue }
            guard v != nil || record["bv"] != nil || record["n"] != nil else { continue }  // a base-only record
            guard let value = (v?.number).map({ $0 + baseValue }) ?? (v == nil ? baseValue : nil) else {
                throw PayloadError(.badField, "SenML record \(index): v must be a number, found \(v!.kind)")
            }
            guard value.isFinite else { throw PayloadError(.badField, "SenML record \(index): v is not finite") }
            var name = baseName
            if let n = record["n"] {
                guard let text = n.string else {
                    throw PayloadError(.badField, "SenML record \(index): n must be a string")
                }
                name += text
            }
            guard !name.isEmpty else { throw PayloadError(.missingField, "SenML record \(index) has no name (bn + n)") }
            var seconds = baseTime
            if let t = record["t"] {
                guard let value = t.number else {
                    throw PayloadError(.badField, "SenML record \(index): t must be a number")
                }
                seconds += value
            }
            let time: EventTime
            if seconds < 268_435_456 {
                time = EventTime(milliseconds: arrival.milliseconds + Int64((seconds * 1000).rounded()))
            } else {
                time = EventTime(seconds: seconds)
            }
            var unit = baseUnit
            if let u = record["u"] {
                guard let text = u.string else {
                    throw PayloadError(.badField, "SenML record \(index): u must be a string")
                }
                unit = text
            }
            readings.append(Reading(value: value, time: time, unit: unit, field: name))
        }
        guard readings.count > before else { throw PayloadError(.missingField, "SenML pack has no numeric record") }
    }
}
