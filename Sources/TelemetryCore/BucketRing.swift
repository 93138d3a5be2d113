/// One window's buckets for one series: a fixed ring, so memory is known in advance.
public struct BucketRing: Sendable {
    public let spec: WindowSpec
    private var starts: [Int64]
    private var buckets: [WindowStats]

    public init(spec: WindowSpec) {
        self.spec = spec
        starts = Array(repeating: .min, count: spec.bucketCount)
        buckets = Array(repeating: WindowStats(), count: spec.bucketCount)
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
        if starts[index] != start {
            guard starts[index] < start else { return false }
            starts[index] = start
            buckets[index] = WindowStats()
        }
        let quarter = Int((time.milliseconds - start) * 4 / spec.bucketMilliseconds)
        body(&buckets[index], quarter)
        return true
    }

    @discardableResult
    public mutating func add(_ value: Double, at time: EventTime) -> Bool {
        bucket(for: time) { stats, quarter in stats.add(value, at: time, quarter: quarter) }
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
            if starts[index] == start { result.append((start, buckets[index])) }
        }
        return result
    }

    /// The window's statistics as of `time`: its buckets merged in time order.
    public func stats(at time: EventTime) -> WindowStats {
        var merged = WindowStats()
        for (_, stats) in buckets(endingAt: time) { merged.merge(stats) }
        return merged
    }

    /// Bytes this ring holds, for the memory budget.
    public var memoryBytes: Int {
        spec.bucketCount * (MemoryLayout<Int64>.stride + MemoryLayout<WindowStats>.stride) + 64
    }
}
