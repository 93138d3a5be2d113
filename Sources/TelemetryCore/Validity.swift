/// Whether averages are valid as monitoring practice requires (../shared/reference/limits.md):
/// an hour with a valid reading in at least 3 of its 4 quarter hours, a day with at least
/// 18 valid hours. Both thresholds are configuration.
public struct ValidityRule: Sendable, Equatable {
    public var minQuarterHours = 3
    public var minHours = 18
    public init(minQuarterHours: Int = 3, minHours: Int = 18) {
        self.minQuarterHours = minQuarterHours
        self.minHours = minHours
    }

    /// An hour's validity from the bucket that holds it (its quarter-hour marks).
    public func hourIsValid(_ hour: WindowStats) -> Bool {
        hour.quarters.nonzeroBitCount >= minQuarterHours
    }

    /// The valid hours of a ring of hourly buckets (the default 24 h window) as of `time`.
    public func validHours(_ ring: BucketRing, at time: EventTime) -> Int {
        precondition(ring.spec.bucketMilliseconds == 3_600_000, "validHours needs hourly buckets")
        return ring.buckets(endingAt: time).filter { hourIsValid($0.stats) }.count
    }

    public func dayIsValid(_ ring: BucketRing, at time: EventTime) -> Bool {
        validHours(ring, at: time) >= minHours
    }

    /// What can be said of a window's validity as of `time`: quarter hours with a valid reading
    /// (a window of 15-minute buckets) or valid hours (a window of hourly buckets); nil otherwise.
    public func assess(_ ring: BucketRing, at time: EventTime) -> WindowValidity? {
        switch ring.spec.bucketMilliseconds {
        case 900_000:
            let quarters = ring.buckets(endingAt: time).filter { !$0.stats.isEmpty }.count
            return WindowValidity(unit: .quarterHours, covered: quarters, valid: quarters >= minQuarterHours)
        case 3_600_000:
            // minHours is per day: an 8 h window needs the same share (6 of 8 by default).
            let hours = validHours(ring, at: time)
            let needed = (ring.spec.bucketCount * minHours + 23) / 24
            return WindowValidity(unit: .hours, covered: hours, valid: hours >= needed)
        default:
            return nil
        }
    }
}

/// A window's data coverage under a `ValidityRule`.
public struct WindowValidity: Sendable, Equatable {
    public enum Unit: String, Sendable {
        case quarterHours = "quarter_hours"
        case hours
    }
    public var unit: Unit
    /// Quarter hours with a valid reading, or hours that are valid themselves.
    public var covered: Int
    public var valid: Bool
}
