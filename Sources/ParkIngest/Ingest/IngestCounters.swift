import TelemetryCore
import UplinkWire

/// Why input gave no reading. The raw values are the stable names in summaries and logs.
/// Topic and payload reasons count messages; `bad_unit`, `bad_name`, `unknown_kind` and the
/// series limits count readings. Readings refused for their time (`future_time`, `too_old`)
/// are outcomes of their series, like `late`.
public enum RejectReason: String, Sendable, CaseIterable, Comparable {
    case empty
    case tooLarge = "too_large"
    case malformed
    case missingField = "missing_field"
    case badField = "bad_field"
    case badUnit = "bad_unit"
    case unknownTopic = "unknown_topic"
    case topicTooLong = "topic_too_long"
    case seriesLimit = "series_limit"
    case badTime = "bad_time"
    case badTopic = "bad_topic"
    /// A reading's name (a JSON key, a SenML or line-protocol name) that cannot name a series.
    case badName = "bad_name"
    case unknownKind = "unknown_kind"
    case parkSeriesLimit = "park_series_limit"
    case messageSeriesLimit = "message_series_limit"

    package init(_ reason: PayloadError.Reason) {
        switch reason {
        case .empty: self = .empty
        case .tooLarge: self = .tooLarge
        case .malformed: self = .malformed
        case .missingField: self = .missingField
        case .badField: self = .badField
        case .badUnit: self = .badUnit
        case .badTime: self = .badTime
        }
    }

    public static func < (a: RejectReason, b: RejectReason) -> Bool { a.rawValue < b.rawValue }
}

/// Message and reading counts since start or over one interval.
public struct IngestCounters: Sendable, Equatable {
    package init() {}

    public var messages = 0
    /// Readings decoded from messages (before the series' own checks).
    public var readings = 0
    public var rejected: [RejectReason: Int] = [:]
    /// What became of the decoded readings (accepted, late, duplicate, ...).
    public var outcomes = SeriesState.Counts()

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
    public var accepted: Int { outcomes.accepted }

    package mutating func add(_ other: IngestCounters) {
        messages += other.messages
        readings += other.readings
        for (reason, count) in other.rejected { rejected[reason, default: 0] += count }
        outcomes.add(other.outcomes)
    }

    /// What was counted since `earlier`, a copy of these counters taken before (reasons
    /// with nothing since are left out, as in counters started afresh then).
    package func since(_ earlier: IngestCounters) -> IngestCounters {
        var result = IngestCounters()
        result.messages = messages - earlier.messages
        result.readings = readings - earlier.readings
        for (reason, count) in rejected where count != earlier.rejected[reason, default: 0] {
            result.rejected[reason] = count - earlier.rejected[reason, default: 0]
        }
        result.outcomes = outcomes.since(earlier.outcomes)
        return result
    }
}
