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
                return Bytes.equal(UnsafeBufferPointer(rebasing: held[start..<end]), topic)
            }
        }
    }

    /// Whether the topic at `index` is `topic`.
    package func holds(_ topic: UnsafeBufferPointer<UInt8>, at index: Int32) -> Bool {
        bytes.withUnsafeBufferPointer { held in
            let end = ends[Int(index)]
            let start = index == 0 ? 0 : ends[Int(index) - 1]
            return Bytes.equal(UnsafeBufferPointer(rebasing: held[start..<end]), topic)
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

    /// Empties the index and frees its buffers: a flood of bogus topics that filled the
    /// cache does not keep its memory after the cache is cleared.
    package mutating func removeAll() {
        index = SlotIndex()
        bytes = []
        ends = []
    }
}
