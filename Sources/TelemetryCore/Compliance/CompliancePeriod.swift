/// The fixed periods a regulation averages over, aligned to the park's local time: clock
/// hours, running 8-hour means of clock hours (QCVN 05's "8 consecutive hours", reported at
/// the end of each hour), local calendar days and calendar years. Rolling windows move with
/// every reading and serve early warning; an auditor counts these.
public enum CompliancePeriod: String, Sendable, CaseIterable, Comparable {
    case hour = "1h"
    case eightHours = "8h"
    case day = "24h"
    case year

    public static func < (a: CompliancePeriod, b: CompliancePeriod) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The period a rule's rolling window stands for (1 h, 8 h, 24 h), if any.
    public static func of(windowMilliseconds: Int64) -> CompliancePeriod? {
        switch windowMilliseconds {
        case 3_600_000: .hour
        case 8 * 3_600_000: .eightHours
        case 86_400_000: .day
        default: nil
        }
    }

    var bit: UInt8 { UInt8(1) << UInt8(CompliancePeriod.allCases.firstIndex(of: self)!) }
}

/// One completed period of one series: its value (the time-weighted mean, or the energy average
/// of decibel readings), its data capture and whether that capture makes it a valid average.
public struct ClosedPeriod: Sendable, Equatable {
    public var period: CompliancePeriod
    public var start: EventTime
    public var end: EventTime
    /// Nil when no valid part of the period had data.
    public var value: Double?
    /// The highest reading of an hour; the highest hourly value of a longer period.
    public var max: Double?
    /// Parts with data over parts in the period: quarter hours of an hour, valid hours of an
    /// 8-hour mean or a day, valid days of a year.
    public var covered: Int
    public var parts: Int
    public var valid: Bool
    /// Readings averaged (an hour), or valid parts averaged (longer periods).
    public var samples: Int
    /// 0 for the first issue; each re-issue after readings arrived for the closed period adds one.
    public var revision = 0
    /// Readings of an hour that arrived after its first issue (counted in this revision).
    public var late = 0

    public var capture: Double { parts > 0 ? Double(covered) / Double(parts) : 0 }
}
