/// One window's statistics as of the newest reading, for rules evaluated after every reading.
///
/// A window's figures are its buckets folded oldest first. The buckets before the newest one
/// change only when a late reading lands in them, so their fold is kept and only the newest
/// bucket is merged per reading: O(1) instead of O(buckets), and bit for bit the same result
/// as folding them all (same operations in the same order). The data coverage that validity
/// needs is kept the same way.
public struct WindowCache: Sendable {
    private var end = Int64.min
    private var revision: UInt32 = 0
    private var quantiles = false
    private var previous = WindowStats()
    /// Previous buckets holding a valid reading, and those that are valid hours under `minQuarterHours`.
    private var previousNonEmpty = 0
    private var previousValidHours = 0
    private var minQuarterHours = -1

    public init() {}

    /// The window's statistics and validity (under `rule`) as of `time`.
    public mutating func read(
        _ ring: borrowing BucketRing, at time: EventTime, quantiles: Bool, validity rule: ValidityRule
    )
        -> (stats: WindowStats, validity: WindowValidity?)
    {
        var out: (stats: WindowStats, validity: WindowValidity?) = (WindowStats(), nil)
        read(ring, at: time, quantiles: quantiles, validity: rule, into: &out)
        return out
    }

    /// As `read(_:at:quantiles:validity:)`, written into `out`: the figures (160 bytes) are
    /// built where they are kept, not copied there on their way out.
    public mutating func read(
        _ ring: borrowing BucketRing, at time: EventTime, quantiles: Bool, validity rule: ValidityRule,
        into out: inout (stats: WindowStats, validity: WindowValidity?)
    ) {
        let start = ring.bucketStart(holding: time)
        // Only the newest bucket may change without a new revision: a window ending elsewhere is folded afresh.
        guard start == ring.newestStart else {
            out = (ring.stats(at: time, quantiles: quantiles), rule.assess(ring, at: time))
            return
        }
        if start != end || ring.revision != revision || quantiles != self.quantiles
            || rule.minQuarterHours != minQuarterHours
        {
            end = start
            revision = ring.revision
            self.quantiles = quantiles
            minQuarterHours = rule.minQuarterHours
            previous = WindowStats()
            previousNonEmpty = 0
            previousValidHours = 0
            // One pass, oldest first: the buckets before the newest fold into `previous`.
            ring.forEachBucket(endingAt: time) { bucketStart, stats in
                guard bucketStart != start else { return }
                previous.merge(stats, quantiles: quantiles && ring.keepsQuantiles)
                if !stats.isEmpty { previousNonEmpty += 1 }
                if rule.hourIsValid(stats) { previousValidHours += 1 }
            }
        }
        // The newest bucket, read once: merged last, as the full fold would.
        out.stats = previous
        var nonEmpty = previousNonEmpty
        var validHours = previousValidHours
        if let current = ring.mergeCurrent(at: time, into: &out.stats, quantiles: quantiles && ring.keepsQuantiles) {
            if current.count > 0 { nonEmpty += 1 }
            if rule.hourIsValid(quarters: current.quarters) { validHours += 1 }
        }
        out.validity = rule.assess(
            bucketMilliseconds: ring.spec.bucketMilliseconds, bucketCount: ring.spec.bucketCount,
            nonEmpty: nonEmpty, validHours: validHours)
    }
}
