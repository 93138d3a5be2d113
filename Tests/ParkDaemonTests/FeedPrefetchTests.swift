import Foundation
import ParkIngest
import TelemetryCore
import Testing

@testable import ParkGateway

#if canImport(Glibc)
    import Glibc
#endif

/// A replay reads, parses and shards its feed on a thread of its own, ahead of the pipelines:
/// what comes out must be every record in feed order with its line number, shard and topic
/// hash, exactly as reading the lines one by one gives, and a replay that fails part way must
/// not leave that thread waiting.
@Suite("Feed prefetch")
struct FeedPrefetchTests {
    /// What one feed line should come out as: its line number and record, or nil for a bad line.
    struct Seen: Equatable {
        var line: Int
        var record: FeedRecord?
        var shard: Int
        var hash: UInt32
    }

    static let routes = [TopicRoute(pattern: try! TopicPattern(TopicPattern.defaultPattern))]

    /// `count` lines: every 7th bad, every 11th blank, every 13th on a topic no pattern matches;
    /// parks p0 to p4. The Equatable reference: each line parsed on its own.
    static func feed(_ count: Int) -> (text: String, expected: [Seen]) {
        var lines: [String] = []
        var expected: [Seen] = []
        for k in 1...count {
            if k % 11 == 0 {
                lines.append("")
                continue
            }
            if k % 7 == 0 {
                lines.append(#"{"t": "not a time", "topic": "parks/p/z/energy/active_power/s"}"#)
                expected.append(Seen(line: k, record: nil, shard: 0, hash: 0))
                continue
            }
            let park = "p\(k % 5)"
            let topic = k % 13 == 0 ? "elsewhere/\(k)" : "parks/\(park)/z/energy/active_power/s\(k % 17)"
            let line = #"{"t":\#(1_795_400_000 + k).5,"topic":"\#(topic)","payload":"{\"value\":\#(k)}"}"#
            lines.append(line)
            let record = try! FeedRecord.parse(line: Array(line.utf8))
            var bytes = Array(topic.utf8)
            let hash = bytes.withUnsafeMutableBufferPointer { TopicIndex.hash(UnsafeBufferPointer($0)) }
            expected.append(
                Seen(
                    line: k, record: record, shard: k % 13 == 0 ? 0 : ReplayShards.shard(ofPark: park), hash: hash))
        }
        return (lines.joined(separator: "\n") + "\n", expected)
    }

    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "feed-prefetch-\(UUID().uuidString.prefix(8)).jsonl"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(
        "every record comes out in feed order with its line number, shard and topic hash, on 1 or 3 parsing threads",
        .timeLimit(.minutes(1)), arguments: [1, 3])
    func inOrder(threads: Int) throws {
        let (text, expected) = Self.feed(3_000)
        let path = try Self.file(text)
        defer { unlink(path) }
        // Small batches and a short queue: the reading thread waits for room many times.
        let prefetch = FeedPrefetch(
            reader: try FeedReader(path: path), routes: Self.routes, threads: threads, depth: 2, batchLines: 300)
        var seen: [Seen] = []
        var batches = 0
        while let batch = prefetch.next() {
            batches += 1
            var k = 0
            for part in batch.parts {
                for result in part.records {
                    defer { k += 1 }
                    let key = batch.keys[k]
                    guard case .success(let placed) = result else {
                        seen.append(Seen(line: batch.numbers[k], record: nil, shard: 0, hash: 0))
                        continue
                    }
                    let record = FeedRecord(
                        time: placed.time, topic: String(decoding: part.bytes.bytes[placed.topic], as: UTF8.self),
                        payload: Array(part.bytes.bytes[placed.payload]), qos: placed.qos, retain: placed.retain)
                    seen.append(
                        Seen(line: batch.numbers[k], record: record, shard: Int(key.shard), hash: key.hash))
                }
            }
            #expect(k == batch.numbers.count && k == batch.keys.count)
        }
        #expect(prefetch.next() == nil, "the end stays the end")
        prefetch.stop()
        #expect(seen.count == expected.count)
        #expect(seen == expected)
        #expect(batches == (expected.count + 299) / 300)
    }

    @Test(
        "a replay that stops part way lets the reading thread go, though it waits for room in a full queue, and frees what was queued",
        .timeLimit(.minutes(1)))
    func stopPartWay() throws {
        let (text, _) = Self.feed(20_000)
        let path = try Self.file(text)
        defer { unlink(path) }
        let prefetch = FeedPrefetch(
            reader: try FeedReader(path: path), routes: Self.routes, threads: 1, depth: 2, batchLines: 10)
        #expect(prefetch.next() != nil)
        // Let the queue fill, so the reading thread is waiting for room when it is stopped.
        usleep(50_000)
        // Stopped from a thread of its own: a stop that hangs fails here instead of hanging the run.
        let stopped = DispatchSemaphore(value: 0)
        Thread {
            prefetch.stop()
            stopped.signal()
        }.start()
        #expect(stopped.wait(timeout: .now() + 30) == .success, "stop returns")
        // The batches still queued are never taken (the replay failed): freeing the prefetch
        // with them is safe (libdispatch traps on a semaphore freed below its starting value).
    }
}
