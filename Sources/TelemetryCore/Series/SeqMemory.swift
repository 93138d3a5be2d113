/// Which sequence numbers a series has taken lately: the last 1 024, in 128 bytes. After an
/// unclean disconnect the broker delivers unacknowledged QoS 1 messages again, hundreds per
/// sensor after a backlog; the raw ring's 16 readings cannot recognise them, this can, and it
/// is saved with the window snapshot so it works across a restart too.
///
/// A seq taken before, within the memory, is a repeat, whatever its time: a redelivery without
/// a device time carries a newer arrival time, so time cannot tell it from a new reading.
/// A sensor restarted its count when a reading newer than any taken has a seq back at its
/// start (below `restartBelow`), further back than the memory holds, or after
/// `restartSilence` of nothing; the memory then starts again from it. (The first few seqs of
/// a count, redelivered without a device time, therefore read as a restart: the one case
/// the seq and the arrival time cannot tell apart.)
public struct SeqMemory: Sendable, Equatable {
    public static let span: Int64 = 1024
    /// Seqs a restarted count begins with (0 or 1, and a reading or two lost at boot).
    public static let restartBelow: Int64 = 4
    /// After an hour without a reading, a lower seq is a new count, not a redelivery.
    public static let restartSilence: Int64 = 3_600_000
    /// The seqs a payload may carry (under 9·10^15, exact as a JSON number).
    public static let seqs: Range<Int64> = -9_000_000_000_000_000..<9_000_000_000_000_000
    public private(set) var highest: Int64?
    public private(set) var latest = EventTime(milliseconds: 0)
    /// Bit `seq % span`: whether that seq (within `span` below `highest`) was taken. Empty
    /// until the first seq: a sensor that sends none costs no 160-byte array.
    private var bits: [UInt64] = []
    private static let words = Int(span / 64)

    public init() {}

    /// `a - b` for `a ≥ b`, at most `Int64.max`: seqs and times restored from a file (or
    /// from an old snapshot's raw readings) may lie as far apart as Int64 allows.
    private static func gap(_ a: Int64, _ b: Int64) -> Int64 {
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? .max : difference
    }

    /// Whether this reading repeats one already taken.
    public func repeats(seq: Int64, time: EventTime) -> Bool {
        guard let highest, seq <= highest, Self.gap(highest, seq) < Self.span, !restarts(seq: seq, time: time) else {
            return false
        }
        return bit(seq)
    }

    /// Whether `seq`, not above the highest, begins a new count rather than repeating one.
    private func restarts(seq: Int64, time: EventTime) -> Bool {
        // A restarted sensor's readings are newer than anything taken; a redelivered backlog
        // with device times is not, whatever its seqs.
        guard let highest, seq < highest, time > latest else { return false }
        return seq < Self.restartBelow || Self.gap(highest, seq) >= Self.span
            || Self.gap(time.milliseconds, latest.milliseconds) >= Self.restartSilence
    }

    public mutating func record(seq: Int64, time: EventTime) {
        guard let top = highest else {
            start(at: seq, time: time)
            return
        }
        if seq > top {
            // Clear the slots skipped over, then take this one; a long jump clears them all.
            if Self.gap(seq, top) >= Self.span {
                for k in bits.indices { bits[k] = 0 }
            } else {
                var s = top + 1
                while s < seq {
                    clear(s)
                    s += 1
                }
            }
            highest = seq
            set(seq)
        } else if restarts(seq: seq, time: time) {
            start(at: seq, time: time)
            return
        } else if Self.gap(top, seq) < Self.span {
            set(seq)
        }
        if time > latest { latest = time }
    }

    private mutating func start(at seq: Int64, time: EventTime) {
        if bits.isEmpty { bits = Array(repeating: 0, count: Self.words) }
        for k in bits.indices { bits[k] = 0 }
        highest = seq
        latest = time
        set(seq)
    }

    private func slot(_ seq: Int64) -> (word: Int, mask: UInt64) {
        let index = Int(((seq % Self.span) + Self.span) % Self.span)
        return (index >> 6, 1 << UInt64(index & 63))
    }
    private func bit(_ seq: Int64) -> Bool {
        let (word, mask) = slot(seq)
        return bits[word] & mask != 0
    }
    private mutating func set(_ seq: Int64) {
        let (word, mask) = slot(seq)
        bits[word] |= mask
    }
    private mutating func clear(_ seq: Int64) {
        let (word, mask) = slot(seq)
        bits[word] &= ~mask
    }

    public func encode(_ w: inout ByteWriter) {
        w.bool(highest != nil)
        w.i64(highest ?? 0)
        w.i64(latest.milliseconds)
        for k in 0..<Self.words { w.u64(bits.isEmpty ? 0 : bits[k]) }
    }

    public init(decoding r: inout ByteReader) throws(SnapshotError) {
        let has = try r.bool()
        let top = try r.i64()
        // A seq no payload can carry: a file that was not written by parkd.
        guard !has || Self.seqs.contains(top) else { throw SnapshotError("implausible seq \(top) in snapshot") }
        guard let time = EventTime(checkedMilliseconds: try r.i64()) else { throw SnapshotError("bad time") }
        highest = has ? top : nil
        latest = time
        var words = [UInt64](repeating: 0, count: Self.words)
        for k in words.indices { words[k] = try r.u64() }
        if has { bits = words }
    }
}
