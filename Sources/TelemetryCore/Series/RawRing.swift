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

    /// An entry as stored, 24 bytes: the seq shifted left by 3, with bit 2 "has a seq" and
    /// bits 0-1 the status (seqs are below 2^53 in magnitude; a corrupt larger one wraps, it
    /// cannot trap).
    private struct Stored: Sendable {
        var value: Double
        var time: Int64
        var bits: Int64

        init(_ reading: borrowing Reading) {
            value = reading.value
            time = reading.time.milliseconds
            let status: Int64 = reading.status == .ok ? 0 : reading.status == .calibrating ? 1 : 2
            bits = (reading.seq ?? 0) &<< 3 | (reading.seq != nil ? 4 : 0) | status
        }

        var hasSeq: Bool { bits & 4 != 0 }
        var seq: Int64 { bits >> 3 }
        var entry: Entry {
            let status: ReadingStatus = bits & 3 == 0 ? .ok : bits & 3 == 1 ? .calibrating : .error
            return Entry(value: value, time: EventTime(milliseconds: time), seq: seq, status: status, hasSeq: hasSeq)
        }
    }

    public let capacity: Int
    private var entries: [Stored] = []
    private var next = 0
    /// The highest seq and latest time held: a reading beyond both is new without a scan.
    private var highestSeq = Int64.min
    private var latestTime = EventTime(milliseconds: .min)

    /// The storage grows with the readings up to `capacity` (not reserved up front): 100 000
    /// series that have sent 3 readings each hold 9 MiB of entries, not 40.
    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Entries the storage has room for now (grows to `capacity`).
    var storedCapacity: Int { entries.capacity }

    public mutating func append(_ reading: Reading) {
        let entry = Stored(reading)
        if let seq = reading.seq { highestSeq = max(highestSeq, seq) }
        latestTime = max(latestTime, reading.time)
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
        }
        next = next + 1 == capacity ? 0 : next + 1
    }

    /// The newest reading held that `include` takes, by its own time (the last appended when
    /// times tie), without copying the ring: a late or historical reading appended after it
    /// does not replace it.
    public func newest(where include: (Entry) -> Bool) -> Entry? {
        // Oldest appended first, so that `>=` leaves the last appended of equal times.
        let first = entries.count < capacity ? 0 : next
        var best: Entry?
        for k in entries.indices {
            let entry = entries[(first + k) % entries.count].entry
            if include(entry), entry.time >= (best?.time ?? entry.time) { best = entry }
        }
        return best
    }

    /// Oldest first.
    public var readings: [Entry] {
        (entries.count < capacity ? entries : Array(entries[next...] + entries[..<next])).map(\.entry)
    }

    /// Whether a reading repeats one still in the ring: the same `seq` when the sensor sends
    /// one, otherwise the same time and value.
    public func holds(_ reading: Reading) -> Bool {
        if let seq = reading.seq {
            if seq > highestSeq { return false }
            return entries.contains { $0.hasSeq && $0.seq == seq }
        }
        if reading.time > latestTime { return false }
        return entries.contains { $0.time == reading.time.milliseconds && $0.value == reading.value }
    }
}
