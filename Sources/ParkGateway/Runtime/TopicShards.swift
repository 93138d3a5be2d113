import ParkIngest
import TelemetryCore

/// A replay's topic → shard map: a topic is matched against the patterns the first time it is
/// seen, then found by one lookup of its bytes. Held by the thread that parses the feed, so the
/// shards' thread only ingests.
package struct TopicShards {
    private let routes: [TopicRoute]
    /// Topic → index in `shardOfTopic`.
    private var topics = TopicIndex()
    private var shardOfTopic: [Int32] = []

    package init(routes: [TopicRoute]) { self.routes = routes }

    /// The shard of a topic (`hash` is its `TopicIndex.hash`): its park's, or 0 when no pattern
    /// names a park (it is refused there).
    package mutating func shard(of topic: UnsafeBufferPointer<UInt8>, hash: UInt32) -> Int {
        if let known = topics.find(topic, hash: hash) { return Int(shardOfTopic[Int(known)]) }
        // Not UTF-8: refused on shard 0 (as a topic no pattern matches).
        guard let text = String(validating: topic, as: UTF8.self) else { return 0 }
        let shard = TopicRouter.match(text, in: routes).map { ReplayShards.shard(ofPark: $0.base.park) } ?? 0
        // Bounded: a feed of a million distinct bogus topics is matched each time past that.
        if topics.count < 1_000_000 {
            _ = topics.insert(topic, hash: hash)
            shardOfTopic.append(Int32(shard))
        }
        return shard
    }
}
