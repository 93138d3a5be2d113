import TelemetryCore

/// Topic bytes → a dense index, for tables keyed by the topics senders choose: looked up in
/// the bytes as received, so the common path makes no `String`. Positions come from the
/// process-seeded `Hasher` (a sender cannot pick topics that collide); the topics' bytes are
/// kept once, end to end in one buffer (no object per topic).
package struct TopicIndex {
    private var index = SlotIndex()
    private var bytes: [UInt8] = []
    /// Where topic i ends in `bytes` (it starts where topic i - 1 ends): `Int`, since a full
    /// cache of long unknown topics may hold more than 2 GiB.
    private var ends: [Int] = []

    package init() {}

    package var count: Int { ends.count }

    package static func hash(_ topic: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(topic))
        return UInt32(truncatingIfNeeded: hasher.finalize())
    }

    /// The index of `topic` (whose `hash` the caller computed), if it is held.
    package func find(_ topic: UnsafeBufferPointer<UInt8>, hash: UInt32) -> Int32? {
        bytes.withUnsafeBufferPointer { held in
            index.slot(hash: hash) { i in
                let end = ends[Int(i)]
                let start = i == 0 ? 0 : ends[Int(i) - 1]
                return Self.equal(UnsafeBufferPointer(rebasing: held[start..<end]), topic)
            }
        }
    }

    /// Files `topic` (not held yet; `hash` of its bytes) at the next index, and returns it.
    package mutating func insert(_ topic: UnsafeBufferPointer<UInt8>, hash: UInt32) -> Int32 {
        let at = Int32(ends.count)
        index.insert(hash: hash, slot: at)
        bytes.append(contentsOf: topic)
        ends.append(bytes.count)
        return at
    }

    package mutating func removeAll() {
        index = SlotIndex()
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    /// Byte equality, 8 bytes at a time (a topic is typically 40 to 80 bytes).
    static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        let ra = UnsafeRawPointer(pa)
        let rb = UnsafeRawPointer(pb)
        var i = 0
        while i + 8 <= a.count {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            {
                return false
            }
            i += 8
        }
        while i < a.count {
            if pa[i] != pb[i] { return false }
            i += 1
        }
        return true
    }
}
