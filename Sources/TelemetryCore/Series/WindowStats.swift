/// Statistics of a set of readings that merge: a window's figures are its buckets' merged.
///
/// Only readings with status ok and inside the physical range enter the figures; the others
/// are counted (`calibrating`, `errors`, `invalid`) and nothing else. For cumulative counters
/// `increase` follows Prometheus' `increase()`: a drop is a reset, and the increase goes on
/// from the new value.
public struct WindowStats: Sendable, Equatable {
    public private(set) var count = 0
    public private(set) var sum = 0.0
    /// Welford's running mean and sum of squared deviations: stable, and mergeable (Chan et al.).
    public private(set) var mean = 0.0
    private var m2 = 0.0
    public private(set) var min = Double.infinity
    public private(set) var max = -Double.infinity
    public private(set) var firstTime = EventTime(milliseconds: .max)
    public private(set) var firstValue = Double.nan
    public private(set) var lastTime = EventTime(milliseconds: .min)
    public private(set) var lastValue = Double.nan
    /// Counter increase between the readings inside, resets handled.
    public private(set) var increase = 0.0
    public private(set) var resets = 0
    public var calibrating = 0
    public var errors = 0
    public var invalid = 0
    /// Which quarters of the bucket's span hold a valid reading (bit 0 = first quarter).
    public private(set) var quarters: UInt8 = 0
    public private(set) var sketch = QuantileSketch()
    /// False for a lean window's figures: count, sum, mean and validity only (nothing reads
    /// its extremes, spread or ends, so its buckets do not keep them).
    public private(set) var detailed = true
    /// For decibel series: the sum of 10^(L/10) over the readings, so that the window's
    /// energy average (LAeq) can be given; NaN where it is unknown (restored from a
    /// snapshot that had none), 0 for series that keep none.
    public internal(set) var energy = 0.0

    /// The energy-equivalent level of the readings, 10·log10(Σ10^(L/10) / n): LAeq for noise.
    /// Nil without readings, for a series that keeps no energy sums, or when unknown.
    public var leq: Double? {
        guard count > 0, energy > 0, energy.isFinite else { return nil }
        return 10 * log10(energy / Double(count))
    }

    public init() {}

    /// A lean bucket's figures: the mean is its sum over its count.
    init(leanCount count: Int, sum: Double, calibrating: Int, errors: Int, invalid: Int, quarters: UInt8) {
        self.count = count
        self.sum = sum
        mean = count > 0 ? sum / Double(count) : 0
        min = .nan
        max = .nan
        (self.calibrating, self.errors, self.invalid, self.quarters) = (calibrating, errors, invalid, quarters)
        detailed = false
    }

    init(
        count: Int, sum: Double, mean: Double, m2: Double, min: Double, max: Double, firstTime: EventTime,
        firstValue: Double, lastTime: EventTime, lastValue: Double, increase: Double, resets: Int, calibrating: Int,
        errors: Int, invalid: Int, quarters: UInt8, sketch: QuantileSketch
    ) {
        (self.count, self.sum, self.mean, self.m2, self.min, self.max) = (count, sum, mean, m2, min, max)
        (self.firstTime, self.firstValue, self.lastTime, self.lastValue) = (firstTime, firstValue, lastTime, lastValue)
        (self.increase, self.resets, self.calibrating, self.errors, self.invalid) = (
            increase, resets, calibrating, errors, invalid
        )
        self.quarters = quarters
        self.sketch = sketch
    }

    /// p50, p95, p99 and the like, within `QuantileSketch.relativeAccuracy`, clamped to min...max.
    public func quantile(_ q: Double) -> Double? {
        sketch.quantile(q).map { Swift.min(Swift.max($0, min), max) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Population standard deviation; nil without readings.
    public var standardDeviation: Double? { count > 0 ? (Swift.max(0, m2) / Double(count)).squareRoot() : nil }

    /// Change per second between the first and the last reading; nil under two distinct times.
    public var rateOfChange: Double? {
        guard count >= 2, lastTime > firstTime else { return nil }
        return (lastValue - firstValue) / (Double(lastTime.milliseconds - firstTime.milliseconds) / 1000)
    }

    /// Adds a valid reading. `quarter` (0...3) marks where in its bucket it fell. (Buckets
    /// keep their own compact form, `Bucket`; this is for figures built outside a ring.)
    public mutating func add(_ value: Double, at time: EventTime, quarter: Int = 0) {
        var one = Bucket(start: time.milliseconds)
        one.add(value, offset: 0, quarter: quarter)
        var sketch = QuantileSketch()
        sketch.add(value)
        merge(one.stats(sketch: sketch))
    }

    /// Merges statistics of readings that come after these in time (for counters) or anywhere
    /// (for everything else).
    public mutating func merge(_ other: WindowStats) { merge(other, quantiles: true) }

    /// `quantiles: false` skips the sketch, the costly part, for callers that need no quantile.
    public mutating func merge(_ other: WindowStats, quantiles: Bool) {
        calibrating += other.calibrating
        errors += other.errors
        invalid += other.invalid
        guard other.count > 0 else { return }
        guard count > 0 else {
            let quality = (calibrating, errors, invalid, quarters)
            self = other
            (calibrating, errors, invalid, quarters) = quality
            quarters |= other.quarters
            return
        }
        energy += other.energy
        guard detailed && other.detailed else {
            addLean(count: other.count, sum: other.sum, quarters: other.quarters)
            return
        }
        let n = Double(count + other.count)
        let delta = other.mean - mean
        m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / n
        mean += delta * Double(other.count) / n
        count += other.count
        sum += other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        if other.firstTime < firstTime {
            firstTime = other.firstTime
            firstValue = other.firstValue
        }
        increase += other.increase + Self.counterDelta(from: lastValue, to: other.firstValue, resets: &resets)
        resets += other.resets
        if other.lastTime >= lastTime {
            lastTime = other.lastTime
            lastValue = other.lastValue
        }
        quarters |= other.quarters
        if quantiles { sketch.merge(other.sketch) }
    }

    /// `merge(bucket.stats(sketch: QuantileSketch()), quantiles: false)` with the bucket's
    /// energy, from its fields: the same operations in the same order, so the same bits,
    /// without building the bucket's figures (160 bytes) first. For the newest bucket, merged
    /// into a window's figures after every reading a rule reads the window for.
    mutating func merge(bucket b: Bucket, energy otherEnergy: Double) {
        guard count > 0, b.count > 0 else {
            // The first figures, or none to add: as `merge` does them.
            var other = b.stats(sketch: QuantileSketch())
            other.energy = otherEnergy
            merge(other, quantiles: false)
            return
        }
        calibrating += Int(b.calibrating)
        errors += Int(b.errors)
        invalid += Int(b.invalid)
        energy += otherEnergy
        let otherCount = Int(b.count)
        guard detailed else {
            addLean(count: otherCount, sum: b.sum, quarters: b.quarters)
            return
        }
        let n = Double(count + otherCount)
        let delta = b.mean - mean
        m2 += b.m2 + delta * delta * Double(count) * Double(otherCount) / n
        mean += delta * Double(otherCount) / n
        count += otherCount
        sum += b.sum
        min = Swift.min(min, b.min)
        max = Swift.max(max, b.max)
        let otherFirst = EventTime(milliseconds: b.start + Int64(b.firstOffset))
        if otherFirst < firstTime {
            firstTime = otherFirst
            firstValue = b.firstValue
        }
        increase += b.increase + Self.counterDelta(from: lastValue, to: b.firstValue, resets: &resets)
        resets += Int(b.resets)
        let otherLast = EventTime(milliseconds: b.start + Int64(b.lastOffset))
        if otherLast >= lastTime {
            lastTime = otherLast
            lastValue = b.lastValue
        }
        quarters |= b.quarters
    }

    /// `merge(WindowStats(leanCount:…))` with that lean bucket's energy, from its fields: the
    /// same operations in the same order, so the same bits.
    mutating func mergeLean(
        count n: Int, sum s: Double, calibrating c: Int, errors e: Int, invalid i: Int, quarters q: UInt8,
        energy otherEnergy: Double
    ) {
        calibrating += c
        errors += e
        invalid += i
        guard n > 0 else { return }
        guard count > 0 else {
            // `self = other`, keeping the quality counts and or-ing the quarters, as `merge` does.
            var lean = WindowStats(
                leanCount: n, sum: s, calibrating: calibrating, errors: errors, invalid: invalid, quarters: quarters | q
            )
            lean.energy = otherEnergy
            self = lean
            return
        }
        energy += otherEnergy
        addLean(count: n, sum: s, quarters: q)
    }

    /// Lean figures: the mean of the window is its sum over its count, nothing else.
    private mutating func addLean(count n: Int, sum s: Double, quarters q: UInt8) {
        count += n
        sum += s
        mean = sum / Double(count)
        quarters |= q
        detailed = false
    }

    static let snapshotIntCount = 5
    static let snapshotDoubleCount = 8

    /// Welford's sum of squared deviations, for the bucket and snapshot layouts.
    var squaredDeviations: Double { m2 }

    /// The fields in `snapshotInts` and `doubles` order, written without building either array.
    func encodeFields(_ w: inout ByteWriter) {
        w.int(count)
        w.int(resets)
        w.int(calibrating)
        w.int(errors)
        w.int(invalid)
        w.double(sum)
        w.double(mean)
        w.double(m2)
        w.double(min)
        w.double(max)
        w.double(firstValue)
        w.double(lastValue)
        w.double(increase)
    }

    init(
        snapshotInts i: [Int], doubles d: [Double], first: EventTime, last: EventTime, quarters: UInt8,
        sketch: QuantileSketch
    ) {
        (count, resets, calibrating, errors, invalid) = (i[0], i[1], i[2], i[3], i[4])
        (sum, mean, m2, min, max) = (d[0], d[1], d[2], d[3], d[4])
        (firstValue, lastValue, increase) = (d[5], d[6], d[7])
        firstTime = first
        lastTime = last
        self.quarters = quarters
        self.sketch = sketch
    }

    static func counterDelta(from previous: Double, to next: Double, resets: inout Int) -> Double {
        if next >= previous { return next - previous }
        resets += 1
        return next
    }
}

#if canImport(Glibc)
    import Glibc
#endif
