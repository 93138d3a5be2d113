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
}
