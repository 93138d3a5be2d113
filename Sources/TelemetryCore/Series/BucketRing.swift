/// One window's buckets for one series: a fixed ring, so memory is known in advance.
///
/// A bucket is stored compactly and turned into `WindowStats` only when read: 104 bytes with
/// full detail (times as offsets from its start, counts as 32 bits), or 32 bytes for a lean
/// window that nothing reads beyond its count, sum and mean. Quantile sketches are kept only
/// when something reads this window's quantiles.
public struct BucketRing: Sendable {
    public let spec: WindowSpec
    /// Whether each bucket keeps a quantile sketch (p50/p95/p99 are read from this window).
    public let keepsQuantiles: Bool
    /// Whether buckets keep full detail (else `leans` holds them).
    public let keepsDetail: Bool
    /// -1 when this ring holds its own buckets; else the index of the series' window whose
    /// ring holds them (same bucket size, alignment and detail, and longer): an 8 h window
    /// of hourly buckets is the newest eight of the 24 h window's, so it keeps none itself.
    public let owner: Int16
    /// Bumped on every write outside the newest bucket: what the newest bucket's predecessors
    /// fold to stays the same while it is unchanged (see `WindowCache`).
    public private(set) var revision: UInt32 = 0
    private var slots: [Bucket]
    private var leans: [LeanBucket]
    private var sketches: [QuantileSketch]
    /// Per bucket, Σ10^(L/10) of its readings (decibel series only: LAeq).
    private var energies: [Double]
    public var keepsEnergy: Bool { !energies.isEmpty }
    /// The start of the newest bucket written.
    public private(set) var newestStart = Int64.min
    /// The slot holding the newest bucket (meaningful once `newestStart` is set).
    private var newestSlot: Int32 = 0

    public init(spec: WindowSpec, quantiles: Bool = true, detail: Bool = true, energy: Bool = false) {
        self.spec = spec
        keepsQuantiles = quantiles
        keepsDetail = detail
        owner = -1
        slots = detail ? Array(repeating: Bucket(), count: spec.bucketCount) : []
        leans = detail ? [] : Array(repeating: LeanBucket(), count: spec.bucketCount)
        sketches = quantiles ? Array(repeating: QuantileSketch(), count: spec.bucketCount) : []
        energies = energy ? Array(repeating: 0, count: spec.bucketCount) : []
    }

    /// A window whose buckets window `owner`'s ring holds: no storage of its own, so it is
    /// read only through the owner's `view(as:owner:)` (`SeriesState.window(_:)`).
    init(spec: WindowSpec, sharing owner: Int, of ring: BucketRing) {
        self.spec = spec
        keepsQuantiles = ring.keepsQuantiles
        keepsDetail = ring.keepsDetail
        self.owner = Int16(owner)
        slots = []
        leans = []
        sketches = []
        energies = []
    }

    /// This ring's buckets read as the shorter window `spec` (same bucket size and alignment).
    func view(as spec: WindowSpec, owner: Int) -> BucketRing {
        var view = BucketRing(spec: spec, sharing: owner, of: self)
        view.slots = slots
        view.leans = leans
        view.sketches = sketches
        view.energies = energies
        view.newestStart = newestStart
        view.newestSlot = newestSlot
        view.revision = revision
        return view
    }

    /// Buckets held in storage: the window's own count, or its owner's for a shared window.
    private var storedCount: Int { keepsDetail ? slots.count : leans.count }

    private func slot(_ start: Int64) -> Int {
        let count = Int64(storedCount)
        let index = (start / spec.bucketMilliseconds) % count
        return Int(index < 0 ? index + count : index)
    }

    /// Whether a bucket that starts at `start` belongs in slot `index`: on the bucket grid, and
    /// where `claim` puts it (a snapshot's slots are checked, so a damaged one cannot plant a
    /// bucket the ring would never have made).
    func places(start: Int64, at index: Int) -> Bool {
        guard let time = EventTime(checkedMilliseconds: start) else { return false }
        return spec.bucketStart(time) == start && slot(start) == index
    }

    /// The slot for `time`, emptied first if it still holds an older span; nil when the ring
    /// has already moved past that span (the reading is too old for this window).
    private func start(ofSlot index: Int) -> Int64 { keepsDetail ? slots[index].start : leans[index].start }

    /// Whether `time` falls in the newest bucket written: where most readings land, and where
    /// the rules read after each one. Its start and slot are known, so no division is needed.
    private func inNewest(_ time: EventTime) -> Bool {
        newestStart != .min && UInt64(bitPattern: time.milliseconds &- newestStart) < UInt64(spec.bucketMilliseconds)
    }

    /// Whether `time` falls in the bucket right after the newest one written.
    private func inNext(_ time: EventTime) -> Bool {
        // From 1970 on: `slot` divides with truncation, which is a floor only there.
        newestStart >= 0
            && UInt64(bitPattern: time.milliseconds &- newestStart &- spec.bucketMilliseconds)
                < UInt64(spec.bucketMilliseconds)
    }

    /// The start of the bucket holding `time` (`spec.bucketStart(time)`, without a division
    /// when it is the newest bucket).
    func bucketStart(holding time: EventTime) -> Int64 { inNewest(time) ? newestStart : spec.bucketStart(time) }

    private mutating func claim(_ time: EventTime) -> (index: Int, start: Int64)? {
        if inNewest(time) { return (Int(newestSlot), newestStart) }
        let start: Int64
        let index: Int
        if inNext(time) {
            // The bucket after the newest, where a series' readings go next: its start and slot
            // follow from the newest's (the ring's slots are consecutive buckets), no division.
            start = newestStart &+ spec.bucketMilliseconds
            let next = Int(newestSlot) + 1
            index = next == storedCount ? 0 : next
        } else {
            start = spec.bucketStart(time)
            index = slot(start)
        }
        let held = self.start(ofSlot: index)
        if held != start {
            guard held < start else { return nil }
            if keepsDetail { slots[index] = Bucket(start: start) } else { leans[index] = LeanBucket(start: start) }
            if keepsQuantiles { sketches[index].removeAll() }
            if keepsEnergy { energies[index] = 0 }
        }
        if start != newestStart {
            revision &+= 1
            if start > newestStart {
                newestStart = start
                newestSlot = Int32(index)
            }
        }
        return (index, start)
    }

    @discardableResult
    public mutating func add(_ value: Double, at time: EventTime) -> Bool {
        add(
            value, key: keepsQuantiles ? QuantileSketch.key(value) : 0, energy: keepsEnergy ? pow(10, value / 10) : 0,
            at: time)
    }

    /// As `add(_:at:)` with the value's sketch bin and its energy `pow(10, value / 10)` already
    /// computed (each unused by a ring that keeps no quantiles, no energy): a series' rings
    /// share them, computed once per reading.
    @discardableResult
    public mutating func add(_ value: Double, key: Int64, energy: Double, at time: EventTime) -> Bool {
        guard let (index, start) = claim(time) else { return false }
        let offset = time.milliseconds - start
        // Compared, not divided (a division per window and reading): the quarter
        // `offset * 4 / bucket`, clamped to 0...3 as the buckets clamp it.
        let scaled = offset &* 4
        let bucket = spec.bucketMilliseconds
        let quarter = (scaled >= bucket ? 1 : 0) + (scaled >= 2 &* bucket ? 1 : 0) + (scaled >= 3 &* bucket ? 1 : 0)
        if keepsDetail {
            slots[index].add(value, offset: Int32(truncatingIfNeeded: offset), quarter: quarter)
        } else {
            leans[index].add(value, quarter: quarter)
        }
        if keepsQuantiles { sketches[index].add(key: key) }
        if keepsEnergy { energies[index] += energy }
        return true
    }

    @discardableResult
    public mutating func count(_ status: ReadingStatus, invalid: Bool, at time: EventTime) -> Bool {
        guard let (index, _) = claim(time) else { return false }
        if keepsDetail {
            slots[index].count(status, invalid: invalid)
        } else {
            leans[index].count(status, invalid: invalid)
        }
        return true
    }

    private func stats(_ index: Int) -> WindowStats {
        var stats =
            keepsDetail
            ? slots[index].stats(sketch: keepsQuantiles ? sketches[index] : QuantileSketch()) : leans[index].stats
        if keepsEnergy { stats.energy = energies[index] }
        return stats
    }

    /// Calls `body` with each bucket of the window that ends in the bucket holding `time`,
    /// oldest first: the one traversal every read of the window goes through.
    func forEachBucket(endingAt time: EventTime, _ body: (Int64, WindowStats) -> Void) {
        let end = spec.bucketStart(time)
        for k in stride(from: spec.bucketCount - 1, through: 0, by: -1) {
            let start = end - Int64(k) * spec.bucketMilliseconds
            let index = slot(start)
            if self.start(ofSlot: index) == start { body(start, stats(index)) }
        }
    }

    /// The buckets of the window that ends in the bucket holding `time`, oldest first.
    public func buckets(endingAt time: EventTime) -> [(start: Int64, stats: WindowStats)] {
        var result: [(Int64, WindowStats)] = []
        result.reserveCapacity(spec.bucketCount)
        forEachBucket(endingAt: time) { result.append(($0, $1)) }
        return result
    }

    /// The window's statistics as of `time`: its buckets merged in time order. Without
    /// `quantiles` (or a ring that keeps none) the result's sketch stays empty.
    public func stats(at time: EventTime, quantiles: Bool = true) -> WindowStats {
        var merged = WindowStats()
        forEachBucket(endingAt: time) { merged.merge($1, quantiles: quantiles && keepsQuantiles) }
        return merged
    }

    /// Merges the bucket holding `time` into `stats`, as merging that bucket's figures does,
    /// and returns its count and quarters; nil when the ring does not hold
    /// that span. A lean bucket is merged from its fields, without building its figures (160
    /// bytes, copied on their way out) first: the rules do this after every reading.
    func mergeCurrent(at time: EventTime, into merged: inout WindowStats, quantiles: Bool) -> (
        count: Int, quarters: UInt8
    )? {
        let end = bucketStart(holding: time)
        var index = Int(newestSlot)
        // The newest bucket's slot is known; checked all the same, as the general path checks
        // (an old snapshot's slots are not).
        if end != newestStart || start(ofSlot: index) != end {
            index = slot(end)
            guard start(ofSlot: index) == end else { return nil }
        }
        guard !keepsDetail else {
            guard !keepsQuantiles else {
                let current = stats(index)
                merged.merge(current, quantiles: quantiles)
                return (current.count, current.quarters)
            }
            // No sketch to carry: merged from the bucket's fields in place.
            merged.merge(bucket: slots[index], energy: keepsEnergy ? energies[index] : 0)
            return (Int(slots[index].count), slots[index].quarters)
        }
        let lean = leans[index]
        merged.mergeLean(
            count: Int(lean.count), sum: lean.sum, calibrating: Int(lean.calibrating), errors: Int(lean.errors),
            invalid: Int(lean.invalid), quarters: lean.quarters, energy: keepsEnergy ? energies[index] : 0)
        return (Int(lean.count), lean.quarters)
    }

    /// Every slot in the order a ring of this window's own size keeps them: the snapshot's
    /// layout. A shared window lays out the newest buckets of its owner's ring as its own ring
    /// would hold them (slots its window no longer covers read empty).
    func forEachSlot(_ body: (Int64, WindowStats) -> Void) {
        let count = spec.bucketCount
        guard storedCount != count else {
            for index in 0..<count { body(start(ofSlot: index), stats(index)) }
            return
        }
        var empty = keepsDetail ? Bucket().stats(sketch: QuantileSketch()) : LeanBucket().stats
        empty.energy = 0
        var laid = [(start: Int64, stats: WindowStats)](repeating: (Int64.min, empty), count: count)
        if newestStart != .min {
            forEachBucket(endingAt: EventTime(milliseconds: newestStart)) { start, stats in
                let index = (start / spec.bucketMilliseconds) % Int64(count)
                laid[Int(index < 0 ? index + Int64(count) : index)] = (start, stats)
            }
        }
        for (start, stats) in laid { body(start, stats) }
    }

    mutating func setSlot(_ index: Int, start: Int64, stats: WindowStats) {
        if keepsDetail {
            slots[index] = Bucket(start: start, stats: stats)
        } else {
            leans[index] = LeanBucket(start: start, stats: stats)
        }
        if keepsQuantiles { sketches[index] = stats.sketch }
        if keepsEnergy { energies[index] = stats.energy }
        // Only a bucket on its grid and in its slot becomes the newest: `claim` derives the
        // newest's and the next bucket's places from it (an old-format snapshot's slots are
        // not checked when read).
        if start > newestStart && places(start: start, at: index) {
            newestStart = start
            newestSlot = Int32(index)
        }
        revision &+= 1
    }

    /// Bytes this ring holds, for the memory budget (sketches at their typical 8 bins).
    public var memoryBytes: Int {
        // The ring itself and its array headers; a shared window holds nothing more.
        let ring = 96
        guard owner < 0 else { return ring }
        return spec.bucketCount
            * ((keepsDetail ? MemoryLayout<Bucket>.stride : MemoryLayout<LeanBucket>.stride)
                + (keepsQuantiles ? 48 + 64 : 0)) + ring
    }
}

/// One bucket as stored: what `WindowStats` holds, with times as milliseconds after the
/// bucket's start and counts in 32 bits (a bucket is at most 24 days long).
struct Bucket: Sendable {
    var start = Int64.min
    var sum = 0.0
    var mean = 0.0
    var m2 = 0.0
    var min = Double.infinity
    var max = -Double.infinity
    var firstValue = Double.nan
    var lastValue = Double.nan
    var increase = 0.0
    var count: UInt32 = 0
    var resets: UInt32 = 0
    var calibrating: UInt32 = 0
    var errors: UInt32 = 0
    var invalid: UInt32 = 0
    var firstOffset: Int32 = 0
    var lastOffset: Int32 = 0
    var quarters: UInt8 = 0

    init() {}
    init(start: Int64) { self.start = start }

    /// Welford's running mean and squared deviations, first and last by time, the counter's
    /// increase with resets: the figures `WindowStats.merge` combines across buckets.
    mutating func add(_ value: Double, offset: Int32, quarter: Int) {
        count &+= 1
        sum += value
        let delta = value - mean
        mean += delta / Double(count)
        m2 += delta * (value - mean)
        if value < min { min = value }
        if value > max { max = value }
        if count == 1 || offset < firstOffset {
            firstOffset = offset
            firstValue = value
        }
        if count == 1 || offset >= lastOffset {
            if count > 1 {
                var r = Int(resets)
                increase += WindowStats.counterDelta(from: lastValue, to: value, resets: &r)
                resets = UInt32(truncatingIfNeeded: r)
            }
            lastOffset = offset
            lastValue = value
        }
        quarters |= 1 << UInt8(Swift.min(3, Swift.max(0, quarter)))
    }

    func stats(sketch: QuantileSketch) -> WindowStats {
        WindowStats(
            count: Int(count), sum: sum, mean: mean, m2: m2, min: min, max: max,
            firstTime: count > 0 ? EventTime(milliseconds: start + Int64(firstOffset)) : EventTime(milliseconds: .max),
            firstValue: firstValue,
            lastTime: count > 0 ? EventTime(milliseconds: start + Int64(lastOffset)) : EventTime(milliseconds: .min),
            lastValue: lastValue, increase: increase, resets: Int(resets), calibrating: Int(calibrating),
            errors: Int(errors), invalid: Int(invalid), quarters: quarters, sketch: sketch)
    }

    init(start: Int64, stats s: WindowStats) {
        self.start = start
        count = UInt32(clamping: s.count)
        resets = UInt32(clamping: s.resets)
        calibrating = UInt32(clamping: s.calibrating)
        errors = UInt32(clamping: s.errors)
        invalid = UInt32(clamping: s.invalid)
        (sum, mean, m2, min, max) = (s.sum, s.mean, s.squaredDeviations, s.min, s.max)
        (firstValue, lastValue, increase) = (s.firstValue, s.lastValue, s.increase)
        if s.count > 0 {
            firstOffset = Int32(clamping: s.firstTime.milliseconds &- start)
            lastOffset = Int32(clamping: s.lastTime.milliseconds &- start)
        }
        quarters = s.quarters
    }
}

/// A lean window's bucket: what a mean and validity need, 32 bytes. Its start and the
/// quarter-hour bits share one word (start × 16 + bits), which keeps it at four words: it is
/// most of a series' memory (43 of them a series with the benchmark's windows).
struct LeanBucket: Sendable {
    /// `start << 4 | quarters`, or `Int64.min` for a bucket never written.
    private var packed = Int64.min
    var sum = 0.0
    var count: UInt32 = 0
    var calibrating: UInt32 = 0
    var errors: UInt32 = 0
    var invalid: UInt32 = 0

    init() {}
    init(start: Int64) { packed = start == .min ? .min : start &<< 4 }

    var start: Int64 { packed == .min ? .min : packed >> 4 }
    var quarters: UInt8 { packed == .min ? 0 : UInt8(truncatingIfNeeded: packed & 15) }

    init(start: Int64, stats s: WindowStats) {
        self.init(start: start)
        if packed != .min { packed |= Int64(s.quarters & 15) }
        count = UInt32(clamping: s.count)
        sum = s.sum
        calibrating = UInt32(clamping: s.calibrating)
        errors = UInt32(clamping: s.errors)
        invalid = UInt32(clamping: s.invalid)
    }

    mutating func add(_ value: Double, quarter: Int) {
        count &+= 1
        sum += value
        if packed != .min { packed |= 1 &<< Int64(Swift.min(3, Swift.max(0, quarter))) }
    }

    var stats: WindowStats {
        WindowStats(
            leanCount: Int(count), sum: sum, calibrating: Int(calibrating), errors: Int(errors),
            invalid: Int(invalid), quarters: quarters)
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// What both bucket layouts count of the readings that never enter the figures.
protocol QualityCounts {
    var calibrating: UInt32 { get set }
    var errors: UInt32 { get set }
    var invalid: UInt32 { get set }
}

extension QualityCounts {
    /// A reading outside the physical range (`invalid`), calibrating, or in error.
    mutating func count(_ status: ReadingStatus, invalid isInvalid: Bool) {
        if isInvalid {
            invalid &+= 1
        } else if status == .calibrating {
            calibrating &+= 1
        } else {
            errors &+= 1
        }
    }
}

extension Bucket: QualityCounts {}
extension LeanBucket: QualityCounts {}
