/// The most recent raw readings of a series, in arrival order, in a fixed ring.
public struct RawRing: Sendable {
    public struct Entry: Sendable, Equatable {
        public var value: Double
        public var time: EventTime
        public var seq: Int64
        public var status: ReadingStatus
        /// `seq` is meaningful (the sensor sent one).
        public var hasSeq: Bool
    }

    public let capacity: Int
    private var entries: [Entry] = []
    private var next = 0
    /// The highest seq and latest time held: a reading beyond both is new without a scan.
    private var highestSeq = Int64.min
    private var latestTime = EventTime(milliseconds: .min)

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        entries.reserveCapacity(capacity)
    }

    public mutating func append(_ reading: Reading) {
        let entry = Entry(
            value: reading.value, time: reading.time, seq: reading.seq ?? 0, status: reading.status,
            hasSeq: reading.seq != nil)
        if reading.seq != nil { highestSeq = max(highestSeq, entry.seq) }
        latestTime = max(latestTime, entry.time)
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
        }
        next = (next + 1) % capacity
    }

    /// Oldest first.
    public var readings: [Entry] {
        entries.count < capacity ? entries : Array(entries[next...] + entries[..<next])
    }

    /// Whether a reading repeats one still in the ring: the same `seq` when the sensor sends
    /// one, otherwise the same time and value.
    public func holds(_ reading: Reading) -> Bool {
        if let seq = reading.seq {
            if seq > highestSeq { return false }
            return entries.contains { $0.hasSeq && $0.seq == seq }
        }
        if reading.time > latestTime { return false }
        return entries.contains { $0.time == reading.time && $0.value == reading.value }
    }
}
