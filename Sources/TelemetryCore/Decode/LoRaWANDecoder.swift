/// LoRaWAN network-server uplinks: ChirpStack v4 (`object`, `time`) and The Things Stack v3
/// (`uplink_message.decoded_payload`, `received_at`). Each configured path gives a reading of
/// that name; without configured paths every number directly inside the decoded object does.
public struct LoRaWANDecoder: Sendable {
    public enum Server: String, Sendable { case chirpstack, tts }

    public let server: Server
    /// Reading name → path inside the decoded object, e.g. `pm25: [air, pm2_5]`.
    public let paths: [(name: String, path: [String])]

    public init(server: Server, paths: [(name: String, path: [String])] = []) {
        self.server = server
        self.paths = paths
    }

    private var objectPath: [String] { server == .chirpstack ? ["object"] : ["uplink_message", "decoded_payload"] }
    private var timePaths: [[String]] {
        server == .chirpstack ? [["time"]] : [["uplink_message", "received_at"], ["received_at"]]
    }

    public func decode(_ bytes: [UInt8], arrival: EventTime, into readings: inout [Reading]) throws(PayloadError) {
        let document = try JSONValue.parse(bytes)
        guard case .object = document else { throw PayloadError(.malformed, "uplink must be a JSON object") }
        let where_ = objectPath.joined(separator: ".")
        guard let decoded = document.at(path: objectPath) else {
            throw PayloadError(.missingField, "uplink has no '\(where_)' (is the device's payload codec set?)")
        }
        guard case .object(let members) = decoded else {
            throw PayloadError(.badField, "'\(where_)' is \(decoded.kind), expected an object")
        }
        var time = arrival
        var timed = false
        for path in timePaths {
            if let text = document.at(path: path)?.string {
                guard let parsed = RFC3339.parse(Array(text.utf8)) else {
                    throw PayloadError(
                        .badTime,
                        "'\(path.joined(separator: "."))' is '\(text.prefix(40))', not RFC 3339 in the years 0001-9999")
                }
                time = parsed
                timed = true
                break
            }
        }
        let before = readings.count
        if paths.isEmpty {
            for (name, value) in members {
                guard let number = value.number else { continue }
                guard number.isFinite else {
                    throw PayloadError(.badField, "'\(where_).\(name.prefix(64))' is not a finite number")
                }
                readings.append(Reading(value: number, time: time, field: name, timed: timed))
            }
            guard readings.count > before else {
                throw PayloadError(.missingField, "'\(where_)' holds no number")
            }
        } else {
            for (name, path) in paths {
                guard let value = decoded.at(path: path) else {
                    throw PayloadError(.missingField, "no '\(where_).\(path.joined(separator: "."))' for \(name)")
                }
                guard let number = value.number, number.isFinite else {
                    throw PayloadError(
                        .badField, "'\(where_).\(path.joined(separator: "."))' is \(value.kind), expected a number")
                }
                readings.append(Reading(value: number, time: time, field: name, timed: timed))
            }
        }
    }
}
