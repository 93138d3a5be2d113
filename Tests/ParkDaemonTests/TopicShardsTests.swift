import ParkIngest
import TelemetryCore
import Testing

@testable import ParkGateway

/// A replay's reading thread finds each line's topic through a front cache keyed by a cheap
/// hash, before the seeded index: a topic must always come back with its own place and hash,
/// whatever collides in that cache.
@Suite("Topic shards")
struct TopicShardsTests {
    static let routes = [TopicRoute(pattern: try! TopicPattern(TopicPattern.defaultPattern))]

    static func place(_ shards: inout TopicShards, _ topic: String) -> TopicShards.Place {
        let bytes = Array(topic.utf8)
        return bytes.withUnsafeBufferPointer { shards.place(of: $0) }
    }

    @Test("topics looked up in any order get the place and hash the seeded index gives them (property)")
    func frontCacheAgrees() {
        var random = SeededRandom(seed: 31)
        var shards = TopicShards(routes: Self.routes, maxTopicBytes: 256)
        var reference = TopicShards(routes: Self.routes, maxTopicBytes: 256)
        // More topics than the front cache has slots, so that they evict one another.
        // Some the index does not keep (over the byte limit; not UTF-8): found afresh each time.
        let topics =
            (0..<12_000).map { "parks/p\($0 % 37)/z/emissions/pm25/s\($0)" }
            + ["bad topic", "x/y", "parks/p/z/energy/power/" + String(repeating: "m", count: 300)]
        let notUTF8: [UInt8] = Array("parks/p/z/energy/power/".utf8) + [0xFF, 0xFE]
        for _ in 0..<3 {
            let found = notUTF8.withUnsafeBufferPointer { shards.place(of: $0) }
            let hash = notUTF8.withUnsafeBufferPointer { TopicIndex.hash($0) }
            #expect(found.hash == hash && found.route == -1 && found.topic == -1)
        }
        for _ in 0..<60_000 {
            let topic = topics.randomElement(using: &random)!
            let found = Self.place(&shards, topic)
            let bytes = Array(topic.utf8)
            let hash = bytes.withUnsafeBufferPointer { TopicIndex.hash($0) }
            let expected = bytes.withUnsafeBufferPointer { reference.place(of: $0, hash: hash) }
            #expect(found.hash == hash, "\(topic)")
            #expect(
                (found.shard, found.route, found.topic)
                    == (expected.shard, expected.route, expected.topic), "\(topic)")
        }
    }

    @Test("two topics that share a front-cache slot, taken in turn, each keep their own place (attack)")
    func collidingTopics() throws {
        // Found by search: distinct topics whose cheap hash picks the same slot, as a sender
        // who knows the function could pick them.
        var bySlot: [Int: String] = [:]
        var pair: (String, String)?
        for i in 0..<200_000 where pair == nil {
            let topic = "parks/park\(i % 7)/z/energy/active_power/m\(i)"
            let bytes = Array(topic.utf8)
            let slot = bytes.withUnsafeBufferPointer { TopicShards.recentSlot($0) }
            if let other = bySlot[slot] { pair = (other, topic) } else { bySlot[slot] = topic }
        }
        let (a, b) = try #require(pair)
        var shards = TopicShards(routes: Self.routes, maxTopicBytes: 256)
        let first = (Self.place(&shards, a), Self.place(&shards, b))
        #expect(first.0.topic != first.1.topic)
        for _ in 0..<100 {
            let (x, y) = (Self.place(&shards, a), Self.place(&shards, b))
            #expect(x.topic == first.0.topic && x.hash == first.0.hash)
            #expect(y.topic == first.1.topic && y.hash == first.1.hash)
            #expect(x.shard == Int32(ReplayShards.shard(ofPark: String(a.split(separator: "/")[1]))))
            #expect(y.shard == Int32(ReplayShards.shard(ofPark: String(b.split(separator: "/")[1]))))
        }
    }
}
