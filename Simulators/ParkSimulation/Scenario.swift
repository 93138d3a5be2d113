import Foundation
import TelemetryCore
import Yams

/// A simulated park estate: parks, zones, sensors by kind, their reporting intervals and
/// payload formats, and the faults to inject. Read from YAML (Simulators/scenarios/).
public struct Scenario: Sendable, Decodable {
    public var name: String
    public var seed: UInt64 = 1
    /// Simulated start, RFC 3339 (for `record`; `run` starts now).
    public var start: String = "2026-11-23T00:00:00+07:00"
    /// Simulated span for `record`, e.g. `1h`, `1d`.
    public var duration: String = "1h"
    public var parks: [Park]
    public var faults: Faults = Faults()

    public struct Park: Sendable, Decodable {
        public var id: String
        public var areaM2: Double?
        public var greenTarget: Double?
        public var utcOffset: String?
        public var zones: [String]
        public var sensors: [SensorGroup]

        enum CodingKeys: String, CodingKey {
            case id, zones, sensors
            case areaM2 = "area_m2"
            case greenTarget = "green_target"
            case utcOffset = "utc_offset"
        }
    }

    public struct SensorGroup: Sendable, Decodable {
        public var kind: String
        public var count: Int
        public var interval: String
        public var format: String?
        /// Scales the kind's typical level (1 = typical).
        public var level: Double?
    }

    enum CodingKeys: String, CodingKey { case name, seed, start, duration, parks, faults }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        start = try c.decodeIfPresent(String.self, forKey: .start) ?? start
        duration = try c.decodeIfPresent(String.self, forKey: .duration) ?? duration
        parks = try c.decode([Park].self, forKey: .parks)
        faults = try c.decodeIfPresent(Faults.self, forKey: .faults) ?? Faults()
    }

    public static func load(path: String) throws -> Scenario {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw ScenarioError("\(path): cannot read the file")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> Scenario {
        let scenario: Scenario
        do {
            scenario = try YAMLDecoder().decode(Scenario.self, from: text)
        } catch let error as DecodingError {
            throw ScenarioError("\(file): \(Self.describe(error))")
        } catch {
            throw ScenarioError("\(file): \(error)")
        }
        try scenario.validate(file: file)
        return scenario
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    func validate(file: String) throws {
        guard RFC3339.parse(Array(start.utf8)) != nil else {
            throw ScenarioError("\(file): start: '\(start)' is not RFC 3339")
        }
        guard TimeText.seconds(duration).map({ $0 > 0 }) == true else {
            throw ScenarioError("\(file): duration: '\(duration)' is not a duration such as 1h or 1d")
        }
        guard !parks.isEmpty else { throw ScenarioError("\(file): parks: at least one park") }
        for (p, park) in parks.enumerated() {
            guard !park.zones.isEmpty else { throw ScenarioError("\(file): parks[\(p)].zones: at least one zone") }
            if let offset = park.utcOffset, TimeText.utcOffsetMinutes(offset) == nil {
                throw ScenarioError("\(file): parks[\(p)].utc_offset: '\(offset)' is not an offset such as +07:00")
            }
            for (g, group) in park.sensors.enumerated() {
                let at = "\(file): parks[\(p)].sensors[\(g)]"
                guard SensorCatalog.standard[group.kind] != nil else {
                    throw ScenarioError("\(at).kind: '\(group.kind)' is not in the sensor catalog")
                }
                guard group.count > 0 && group.count <= 100_000 else { throw ScenarioError("\(at).count: 1...100000") }
                guard let seconds = TimeText.seconds(group.interval), seconds >= 0.01 else {
                    throw ScenarioError("\(at).interval: '\(group.interval)' is not a duration of at least 10ms")
                }
                _ = seconds
                if let format = group.format, PayloadFormat(rawValue: format) == nil {
                    throw ScenarioError(
                        "\(at).format: '\(format)'; expected one of \(PayloadFormat.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
            }
        }
        try faults.validate(file: file)
    }

    public var startTime: EventTime { RFC3339.parse(Array(start.utf8))! }
    public var durationMilliseconds: Int64 { Int64(TimeText.seconds(duration)! * 1000) }
}

public struct ScenarioError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
