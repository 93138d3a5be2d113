/// One window's buckets for one series: a fixed ring, so memory is known in advance.
public struct BucketRing: Sendable {
    public let spec: WindowSpec
    /// Start and statistics side by side: one cache line fetch per update, not two.
    private struct Slot: Sendable {
        var start: Int64 = .min
        var stats = WindowStats()
    }
    private var slots: [Slot]

    public init(spec: WindowSpec) {
        self.spec = spec
        slots = Array(repeating: Slot(), count: spec.bucketCount)
    }

    private func slot(_ start: Int64) -> Int {
        let index = (start / spec.bucketMilliseconds) % Int64(spec.bucketCount)
        return Int(index < 0 ? index + Int64(spec.bucketCount) : index)
    }

    /// The bucket for `time`, emptied first if it still holds an older span. Returns nil when
    /// the ring has already moved past that span (the reading is too old for this window).
    private mutating func bucket(for time: EventTime, body: (inout WindowStats, Int) -> Void) -> Bool {
        let start = spec.bucketStart(time)
        let index = slot(start)
        return slots.withUnsafeMutableBufferPointer { slots in
            if slots[index].start != start {
                guard slots[index].start < start else { return false }
                slots[index].start = start
                slots[index].stats.reset()
            }
            let quarter = Int((time.milliseconds - start) * 4 / spec.bucketMilliseconds)
            body(&slots[index].stats, quarter)
            return true
        }
    }

    @discardableResult
    public mutating func add(_ value: Double, at time: EventTime) -> Bool {
        add(value, key: QuantileSketch.key(value), at: time)
    }

    @discardableResult
    public mutating func add(_ value: Double, key: Int64, at time: EventTime) -> Bool {
        bucket(for: time) { stats, quarter in stats.add(value, key: key, at: time, quarter: quarter) }
    }

    @discardableResult
    public mutating func count(_ status: ReadingStatus, invalid: Bool, at time: EventTime) -> Bool {
        bucket(for: time) { stats, _ in
            if invalid {
                stats.invalid += 1
            } else if status == .calibrating {
                stats.calibrating += 1
            } else {
                stats.errors += 1
            }
        }
    }

    /// The buckets of the window that ends in the bucket holding `time`, oldest first.
    public func buckets(endingAt time: EventTime) -> [(start: Int64, stats: WindowStats)] {
        let end = spec.bucketStart(time)
        var result: [(Int64, WindowStats)] = []
        result.reserveCapacity(spec.bucketCount)
        for k in stride(from: spec.bucketCount - 1, through: 0, by: -1) {
            let start = end - Int64(k) * spec.bucketMilliseconds
            let index = slot(start)
            if slots[index].start == start { result.append((start, slots[index].stats)) }
        }
        return result
    }

    /// The window's statistics as of `time`: its buckets merged in time order. Without
    /// `quantiles` the result's sketch stays empty (and the merge is much cheaper).
    public func stats(at time: EventTime, quantiles: Bool = true) -> WindowStats {
        var merged = WindowStats()
        let end = spec.bucketStart(time)
        for k in stride(from: spec.bucketCount - 1, through: 0, by: -1) {
            let start = end - Int64(k) * spec.bucketMilliseconds
            let slot = slots[self.slot(start)]
            if slot.start == start { merged.merge(slot.stats, quantiles: quantiles) }
        }
        return merged
    }

    func forEachSlot(_ body: (Int64, WindowStats) -> Void) {
        for slot in slots { body(slot.start, slot.stats) }
    }

    mutating func setSlot(_ index: Int, start: Int64, stats: WindowStats) {
        slots[index] = Slot(start: start, stats: stats)
    }

    /// Bytes this ring holds, for the memory budget.
    public var memoryBytes: Int {
        spec.bucketCount * MemoryLayout<Slot>.stride + 64
    }
}
