import TelemetryCore

/// Why a message gave no reading. The raw values are the stable names in summaries and logs.
public enum RejectReason: String, Sendable, CaseIterable, Comparable {
    case empty
    case tooLarge = "too_large"
    case malformed
    case missingField = "missing_field"
    case badField = "bad_field"
    case unknownTopic = "unknown_topic"
    case seriesLimit = "series_limit"

    init(_ reason: PayloadError.Reason) {
        switch reason {
        case .empty: self = .empty
        case .tooLarge: self = .tooLarge
        case .malformed: self = .malformed
        case .missingField: self = .missingField
        case .badField: self = .badField
        }
    }

    public static func < (a: RejectReason, b: RejectReason) -> Bool { a.rawValue < b.rawValue }
}

/// Message and reading counts since start or over one interval.
public struct IngestCounters: Sendable, Equatable {
    public var messages = 0
    public var readings = 0
    public var rejected: [RejectReason: Int] = [:]

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }

    mutating func add(_ other: IngestCounters) {
        messages += other.messages
        readings += other.readings
        for (reason, count) in other.rejected { rejected[reason, default: 0] += count }
    }
}
