/// Whether averages are valid as monitoring practice requires: an hour with a valid reading
/// in at least 3 of its 4 quarter hours, a day with at least 18 valid hours (75 % data
/// capture). Both thresholds are configuration.
public struct ValidityRule: Sendable, Equatable, Codable {
    public var minQuarterHours = 3
    public var minHours = 18
    public init(minQuarterHours: Int = 3, minHours: Int = 18) {
        self.minQuarterHours = minQuarterHours
        self.minHours = minHours
    }

    /// An hour's validity from the bucket that holds it (its quarter-hour marks).
    public func hourIsValid(_ hour: WindowStats) -> Bool { hourIsValid(quarters: hour.quarters) }

    /// As `hourIsValid(_:)`, from the hour's quarter bits.
    func hourIsValid(quarters: UInt8) -> Bool { quarters.nonzeroBitCount >= minQuarterHours }

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
        let buckets = ring.buckets(endingAt: time)
        return assess(
            bucketMilliseconds: ring.spec.bucketMilliseconds, bucketCount: ring.spec.bucketCount,
            nonEmpty: buckets.filter { !$0.stats.isEmpty }.count,
            validHours: buckets.filter { hourIsValid($0.stats) }.count)
    }

    /// The same from counts: buckets with a valid reading, and buckets that are valid hours.
    func assess(bucketMilliseconds: Int64, bucketCount: Int, nonEmpty: Int, validHours: Int) -> WindowValidity? {
        switch bucketMilliseconds {
        case 900_000:
            return WindowValidity(unit: .quarterHours, covered: nonEmpty, valid: nonEmpty >= minQuarterHours)
        case 3_600_000:
            // minHours is per day: an 8 h window needs the same share (6 of 8 by default).
            let needed = (bucketCount * minHours + 23) / 24
            return WindowValidity(unit: .hours, covered: validHours, valid: validHours >= needed)
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
