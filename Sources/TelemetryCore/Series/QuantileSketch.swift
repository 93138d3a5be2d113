/// A mergeable quantile sketch with relative error (DDSketch, Masson et al. 2019).
///
/// Values fall into logarithmic bins of ratio γ = (1 + α) / (1 − α), α = 2 %: any quantile
/// whose bin was never collapsed is returned within 2 % of the exact value at the same rank.
/// At most `maxBins` (32) bins are kept; past that the two lowest bins are merged, so the
/// low quantiles of a bucket whose readings span more than γ^32 ≈ 3.6× lose accuracy while
/// p95 and p99 keep it. Memory: 8 bytes per bin, at most 256 bytes.
public struct QuantileSketch: Sendable, Equatable {
    public static let relativeAccuracy = 0.02
    public static let maxBins = 32
    private static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
    private static let logGamma = log(gamma)
    private static let zeroKey: Int64 = 1 << 20
    private static let span: Int64 = 1 << 16
    private static let smallest = 1e-9

    /// Sorted by key; each element packs the key (high 32 bits) and the count (low 32 bits).
    private var bins: [UInt64] = []
    public private(set) var count = 0

    public init() {}

    /// The bin of a value; computed once per reading and shared by every window's sketch.
    public static func key(_ value: Double) -> Int64 {
        let magnitude = Swift.abs(value)
        guard magnitude >= smallest else { return zeroKey }
        let index = Int64((log(magnitude) / logGamma).rounded(.up))
        let clamped = Swift.min(Swift.max(index, -(span / 2 - 1)), span / 2 - 1)
        return value > 0 ? zeroKey + span + clamped : zeroKey - span - clamped
    }

    private static func value(ofKey key: Int64) -> Double {
        if key == zeroKey { return 0 }
        let index = key > zeroKey ? key - zeroKey - span : -(key - zeroKey + span)
        let magnitude = 2 * pow(gamma, Double(index)) / (gamma + 1)
        return key > zeroKey ? magnitude : -magnitude
    }

    public mutating func add(_ value: Double) { add(key: Self.key(value)) }

    public mutating func add(key: Int64) {
        insert(key: key, count: 1)
        count += 1
        if bins.count > Self.maxBins { collapse() }
    }

    /// Empties the sketch, keeping its storage for the bucket's next span.
    public mutating func removeAll() {
        bins.removeAll(keepingCapacity: true)
        count = 0
    }

    private mutating func insert(key: Int64, count: UInt64) {
        var low = 0
        var high = bins.count
        while low < high {
            let mid = (low + high) / 2
            if Int64(bins[mid] >> 32) < key { low = mid + 1 } else { high = mid }
        }
        if low < bins.count && Int64(bins[low] >> 32) == key {
            bins[low] += count
        } else {
            bins.insert(UInt64(key) << 32 | count, at: low)
        }
    }

    private mutating func collapse() {
        while bins.count > Self.maxBins {
            let lowest = bins.removeFirst() & 0xFFFF_FFFF
            bins[0] += lowest
        }
    }

    public mutating func merge(_ other: QuantileSketch) {
        guard other.count > 0 else { return }
        for bin in other.bins { insert(key: Int64(bin >> 32), count: bin & 0xFFFF_FFFF) }
        count += other.count
        if bins.count > Self.maxBins { collapse() }
    }

    /// The value at rank ⌊q·(n−1)⌋, within the stated relative error; nil when empty.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = UInt64((Swift.min(Swift.max(q, 0), 1) * Double(count - 1)).rounded(.down))
        var seen: UInt64 = 0
        for bin in bins {
            seen += bin & 0xFFFF_FFFF
            if seen > rank { return Self.value(ofKey: Int64(bin >> 32)) }
        }
        return Self.value(ofKey: Int64(bins[bins.count - 1] >> 32))
    }

    public var binCount: Int { bins.count }

    func forEachBin(_ body: (UInt64) -> Void) { bins.forEach(body) }
    mutating func restore(count: Int, bins: [UInt64]) {
        self.count = count
        self.bins = bins
    }
}

#if canImport(Glibc)
    import Glibc
#endif
