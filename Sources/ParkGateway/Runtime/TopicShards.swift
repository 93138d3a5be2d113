import ParkIngest
import TelemetryCore

/// A replay's topic → shard and route map: a topic is matched against the patterns the first
/// time it is seen, then found by one lookup of its bytes. Held by the thread that parses the
/// feed, so the shards' thread only ingests.
package struct TopicShards {
    package struct Place: Sendable {
        /// Its park's shard, or 0 when no pattern names a park (it is refused there).
        package var shard: Int32
        /// The first route whose pattern matches (the one the pipeline's router takes, for a
        /// topic it does not refuse before), or -1.
        package var route: Int32
        /// This replay's number for the topic (its index here), or -1 when not kept: the
        /// pipeline's router finds the topic by it (`TopicRouter.route(_:hash:alias:limits:)`).
        package var topic: Int32 = -1
        /// The topic's `TopicIndex.hash`: the pipeline's router takes it instead of hashing
        /// the topic again.
        package var hash: UInt32 = 0
    }

    private let routes: [TopicRoute]
    /// Topic → index in `places`.
    private var topics = TopicIndex()
    private var places: [Place] = []
    /// In front of `topics`, by a cheap hash of the bytes: the index in `places` of a topic
    /// seen lately, or -1. Nearly every line repeats a topic, and the seeded hash that
    /// `topics` needs (against senders who pick colliding topics) took a tenth of the reading
    /// thread. A collision here only misses, and the line takes the seeded path: crafted
    /// topics cost that path plus this probe, no more.
    private var recent = [Int32](repeating: -1, count: Self.recentSlots)
    private static let recentSlots = 8192

    /// Longer topics are refused by the pipeline before routing: they are neither kept (a feed
    /// of long bogus topics cannot grow the map) nor decoded ahead.
    private let maxTopicBytes: Int

    package init(routes: [TopicRoute], maxTopicBytes: Int) {
        self.routes = routes
        self.maxTopicBytes = maxTopicBytes
    }

    /// Where a topic goes. `keeping` false: a topic not seen before is matched but not kept
    /// (its number is -1), for a line not yet known to be good, so that a bad line numbers no
    /// topic, as when lines are parsed before they are placed; a known topic is found either way.
    package mutating func place(of topic: UnsafeBufferPointer<UInt8>, keeping: Bool = true) -> Place {
        let r = Self.recentSlot(topic)
        let seen = recent[r]
        if seen >= 0, topics.holds(topic, at: seen) { return places[Int(seen)] }
        let hash = TopicIndex.hash(topic)
        let place =
            keeping
            ? place(of: topic, hash: hash)
            : topics.find(topic, hash: hash).map { places[Int($0)] } ?? matched(topic, hash: hash) ?? refused(hash)
        if place.topic >= 0 { recent[r] = place.topic }
        return place
    }

    /// A multiply-xor hash of the topic's bytes, eight at a time, as a slot of `recent`.
    static func recentSlot(_ topic: UnsafeBufferPointer<UInt8>) -> Int {
        var h = UInt64(topic.count) &* 0x9E37_79B9_7F4A_7C15
        guard let base = topic.baseAddress else { return Int(h >> 51) }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= topic.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < topic.count {
            tail |= UInt64(topic[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: h >> 51)  // 13 bits: `recentSlots`
    }

    /// Where a topic goes (`hash` is its `TopicIndex.hash`).
    package mutating func place(of topic: UnsafeBufferPointer<UInt8>, hash: UInt32) -> Place {
        if let known = topics.find(topic, hash: hash) { return places[Int(known)] }
        guard let place = matched(topic, hash: hash) else { return refused(hash) }
        // Bounded: a feed of a million distinct bogus topics is matched each time past that.
        guard topics.count < 1_000_000 else { return place }
        var kept = place
        kept.topic = topics.insert(topic, hash: hash)
        places.append(kept)
        return kept
    }

    /// A topic not kept yet, matched against the patterns; nil when too long or not UTF-8: such
    /// a topic is never kept (it would be matched on every line) and goes to `refused`.
    private func matched(_ topic: UnsafeBufferPointer<UInt8>, hash: UInt32) -> Place? {
        guard topic.count <= maxTopicBytes, let text = String(validating: topic, as: UTF8.self) else { return nil }
        return TopicRouter.match(text, in: routes).map {
            Place(shard: Int32(ReplayShards.shard(ofPark: $0.base.park)), route: Int32($0.route), hash: hash)
        } ?? refused(hash)
    }

    /// Refused on shard 0, as a topic no pattern matches.
    private func refused(_ hash: UInt32) -> Place { Place(shard: 0, route: -1, hash: hash) }
}
