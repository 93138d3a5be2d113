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
    /// What one feed line should come out as: its line number and record (nil for a bad
    /// line), shard, topic hash, and its payload decoded alone (nil when not decoded ahead).
    struct Seen: Equatable {
        var line: Int
        var record: FeedRecord?
        var shard: Int
        var hash: UInt32
        var decoded: Result<[Reading], PayloadError>?
        /// The reading thread's number for the topic: topics in the order good lines first
        /// bring them (a bad line numbers none), -1 for a bad line.
        var number: Int32 = -1
    }

    /// JSON topics, and Sparkplug's (left to the pipeline to decode).
    static let routes: [TopicRoute] = {
        var json = TopicRoute(pattern: try! TopicPattern(TopicPattern.defaultPattern))
        json.decoder = PayloadDecoder(maxBytes: 200)
        return [json, .sparkplug(SparkplugMapping())]
    }()

    static let settings = IngestPipeline.Settings(routes: routes)

    static func hash(_ topic: String) -> UInt32 {
        var topic = topic
        return topic.withUTF8 { TopicIndex.hash($0) }
    }

    /// `count` lines: every 7th bad, every 11th blank, every 13th on a topic no pattern matches,
    /// every 17th Sparkplug's; payloads good, with several fields, malformed, too large or
    /// missing their value; parks p0 to p4. The reference: each line parsed and decoded alone.
    static func feed(_ count: Int) -> (text: String, expected: [Seen]) {
        var lines: [String] = []
        var expected: [Seen] = []
        var numbers: [String: Int32] = [:]
        for k in 1...count {
            if k % 11 == 0 {
                lines.append("")
                continue
            }
            if k % 7 == 0 {
                lines.append(#"{"t": "not a time", "topic": "parks/p/z/energy/active_power/s"}"#)
                expected.append(Seen(line: k, record: nil, shard: 0, hash: 0, decoded: nil))
                continue
            }
            if k % 19 == 0 {
                // Written as parkd writes a line, but its payload's quotes are not escaped: bad,
                // on a topic of its own, which it must not number.
                lines.append(
                    #"{"t":1795400000.5,"topic":"parks/p1/z/emissions/pm25/bad\#(k)","payload":"{"value":1}"}"#)
                expected.append(Seen(line: k, record: nil, shard: 0, hash: 0, decoded: nil))
                continue
            }
            let park = "p\(k % 5)"
            let topic =
                k % 13 == 0
                ? "elsewhere/\(k)"
                : k % 17 == 0 ? "spBv1.0/\(park)/DDATA/e1/d1" : "parks/\(park)/z/emissions/pm25/s\(k % 17)"
            let payload =
                switch k % 5 {
                case 0: #"{\"pm25\": \#(k), \"pm10\": \#(k * 2), \"ts\": \#(1_795_400_000 + k)}"#
                case 1: "garbage"
                case 2: #"{\"value\": 1, \"pad\": \"\#(String(repeating: "x", count: 200))\"}"#
                case 3: k % 23 == 0 ? #"{\"value\":2,\"unit\":\"\u00b5g\"}"# : #"{\"ts\": 1}"#
                default:
                    k % 2 == 0
                        ? #"{\"value\":\#(k).25,\"ts\":\#(1_795_400_000_000 + k),\"unit\":\"ug/m3\",\"status\":\"ok\",\"seq\":\#(k)}"#
                        : #"{\"value\": \#(k), \"seq\": \#(k)}"#
                }
            let line = #"{"t":\#(1_795_400_000 + k).5,"topic":"\#(topic)","payload":"\#(payload)"}"#
            lines.append(line)
            let record = try! FeedRecord.parse(line: Array(line.utf8))
            let match = TopicRouter.match(topic, in: routes)
            var decoded: Result<[Reading], PayloadError>?
            if let (route, _) = match, routes[route].sparkplug == nil {
                var readings: [Reading] = []
                decoded = Result { () throws(PayloadError) in
                    try routes[route].decoder.decode(record.payload, arrival: record.time, into: &readings)
                    return readings
                }
            }
            let shard = match.map { ReplayShards.shard(ofPark: $0.base.park) } ?? 0
            let number = numbers[topic] ?? Int32(numbers.count)
            numbers[topic] = number
            expected.append(
                Seen(line: k, record: record, shard: shard, hash: Self.hash(topic), decoded: decoded, number: number))
        }
        return (lines.joined(separator: "\n") + "\n", expected)
    }

    /// The first batch of a feed of `lines`, read on one thread with `readingBudget`.
    static func firstBatch(_ lines: [String], readingBudget: Int) throws -> FeedPrefetch.Batch {
        let path = try file(lines.joined(separator: "\n") + "\n")
        defer { unlink(path) }
        let prefetch = FeedPrefetch(
            reader: try FeedReader(path: path), settings: settings, threads: 1, readingBudget: readingBudget)
        defer { prefetch.stop() }
        return try #require(prefetch.next())
    }

    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "feed-prefetch-\(UUID().uuidString.prefix(8)).jsonl"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(
        "every record comes out in feed order with its line number, shard, topic hash and payload decoded as alone, on 1 or 3 parsing threads",
        .timeLimit(.minutes(1)), arguments: [1, 3])
    func inOrder(threads: Int) throws {
        let (text, expected) = Self.feed(3_000)
        let path = try Self.file(text)
        defer { unlink(path) }
        // Small batches and a short queue: the reading thread waits for room many times.
        let prefetch = FeedPrefetch(
            reader: try FeedReader(path: path), settings: Self.settings, threads: threads, depth: 2, batchLines: 300)
        var seen: [Seen] = []
        // Records whose payload was decoded where it lay in its line (one parsing thread), so
        // not copied into the part: its readings are compared instead.
        var inLine: Set<Int> = []
        var batches = 0
        while let batch = prefetch.next() {
            batches += 1
            var k = 0
            for part in batch.parts {
                for record in part.records {
                    defer { k += 1 }
                    let key = batch.keys[k]
                    guard let placed = record else {
                        seen.append(Seen(line: batch.numbers[k], record: nil, shard: 0, hash: 0, decoded: nil))
                        continue
                    }
                    var record = FeedRecord(
                        time: placed.time, topic: String(decoding: part.bytes.bytes[placed.topic], as: UTF8.self),
                        payload: Array(part.bytes.bytes[placed.payload]), qos: placed.qos, retain: placed.retain)
                    let decoded: Result<[Reading], PayloadError>? =
                        switch key.decoded {
                        case .byPipeline: nil
                        case .readings(_, let range): .success(Array(part.bytes.readings[range]))
                        case .failed(_, let k): .failure(part.bytes.errors[Int(k)])
                        }
                    // Its payload is not kept: what it should read as is compared instead (the
                    // readings decoded from the line alone).
                    if placed.payload.isEmpty, case .success? = decoded {
                        #expect(seen.count < expected.count)
                        inLine.insert(seen.count)
                        record.payload = seen.count < expected.count ? expected[seen.count].record?.payload ?? [] : []
                    }
                    seen.append(
                        Seen(
                            line: batch.numbers[k], record: record, shard: Int(key.shard), hash: key.hash,
                            decoded: decoded, number: key.topic))
                }
            }
            #expect(k == batch.numbers.count && k == batch.keys.count)
        }
        #expect(prefetch.next() == nil, "the end stays the end")
        #expect(seen.count == expected.count)
        #expect(seen == expected)
        #expect(batches == (expected.count + 299) / 300)
        // One thread decodes the payloads it can where they lie, several go the general way;
        // only a payload there was is taken in place.
        #expect(threads == 1 ? inLine.count > 300 : inLine.isEmpty, "\(inLine.count)")
        #expect(inLine.allSatisfy { expected[$0].record?.payload.isEmpty == false })
        // The mix reaches every path: several readings from one payload, failures, Sparkplug's.
        #expect(expected.contains { (try? $0.decoded?.get())?.count == 2 })
        #expect(expected.contains { if case .failure = $0.decoded { true } else { false } })
        #expect(expected.contains { $0.record?.topic.hasPrefix("spBv1.0/") == true && $0.decoded == nil })
    }

    @Test(
        "payloads past a part's reading budget, and topics too long for the pipeline, are left to the pipeline",
        .timeLimit(.minutes(1)))
    func leftToThePipeline() throws {
        // One payload on a topic over the limit, then 40 payloads of 3 readings each.
        let long = "parks/p/z/emissions/pm25/" + String(repeating: "s", count: 512)
        var lines = (0..<40).map { k in
            #"{"t":1795400000,"topic":"parks/p/z/emissions/pm25/s\#(k)","payload":"{\"a\": 1, \"b\": 2, \"c\": 3}"}"#
        }
        // First, under the budget: left to the pipeline for its topic alone.
        lines.insert(#"{"t":1795400000,"topic":"\#(long)","payload":"{\"value\": 1}"}"#, at: 0)
        let batch = try Self.firstBatch(lines, readingBudget: 10)
        let held = batch.parts.map(\.bytes.readings.count).reduce(0, +)
        let ahead = batch.keys.filter { if case .readings = $0.decoded { true } else { false } }.count
        // Decoded ahead while under 10 readings: 4 payloads (12 readings); the rest wait.
        func left(_ key: FeedPrefetch.Key) -> Bool { if case .byPipeline = key.decoded { true } else { false } }
        #expect(ahead == 4 && held == 12)
        #expect(long.utf8.count > Self.settings.limits.maxTopicBytes)
        // Refused on shard 0 as a topic no pattern takes, and given no number (never kept).
        #expect(left(batch.keys[0]) && batch.keys[0].shard == 0 && batch.keys[0].topic == -1)
        #expect(!batch.keys[1...4].contains(where: left))
        #expect(batch.keys.dropFirst(5).allSatisfy(left))
    }

    @Test(
        "payloads decoded where they lie count toward the budget; past it they are copied out for the pipeline",
        .timeLimit(.minutes(1)))
    func inLineBudget() throws {
        let lines = (0..<40).map { k in
            #"{"t":1795400000,"topic":"parks/p/z/emissions/pm25/s\#(k % 3)","payload":"{\"value\":\#(k),\"seq\":\#(k)}"}"#
        }
        let batch = try Self.firstBatch(lines, readingBudget: 10)
        let part = try #require(batch.parts.first)
        #expect(batch.parts.count == 1 && part.bytes.readings.map(\.value) == (0..<10).map(Double.init))
        for (k, key) in batch.keys.enumerated() {
            let record = try #require(part.records[k])
            let payload = String(decoding: part.bytes.bytes[record.payload], as: UTF8.self)
            if k < 10 {
                guard case .readings = key.decoded else {
                    Issue.record("line \(k) not decoded ahead")
                    continue
                }
                #expect(payload.isEmpty)
            } else {
                guard case .byPipeline = key.decoded else {
                    Issue.record("line \(k) decoded past the budget")
                    continue
                }
                // Unescaped, whole, for the pipeline to decode.
                #expect(payload == #"{"value":\#(k),"seq":\#(k)}"#)
            }
            #expect(key.topic == Int32(k % 3))
        }
    }

    @Test("a batch ends at its byte budget too: long lines queue a few at a time, none lost", .timeLimit(.minutes(1)))
    func batchBytes() throws {
        // 30 lines of about 2 KiB each, a budget of 8 KiB: a batch holds 4 lines (the budget is
        // reached on the fourth), not its 2 048.
        let pad = String(repeating: "x", count: 2_000)
        let lines = (0..<30).map { k in
            #"{"t":1795400000,"topic":"parks/p/z/emissions/pm25/s\#(k)","payload":"{"value": \#(k), "pad": "\#(pad)"}"}"#
        }
        let path = try Self.file(lines.joined(separator: "\n") + "\n")
        defer { unlink(path) }
        let prefetch = FeedPrefetch(
            reader: try FeedReader(path: path), settings: Self.settings, threads: 1, batchBytes: 8_192)
        var sizes: [Int] = []
        var numbers: [Int] = []
        while let batch = prefetch.next() {
            sizes.append(batch.numbers.count)
            numbers += batch.numbers
        }
        #expect(sizes == [4, 4, 4, 4, 4, 4, 4, 2])
        #expect(numbers == Array(1...30))
    }

    @Test(
        "a replay that stops part way lets the reading thread go, though it waits for room in a full queue, and frees what was queued",
        .timeLimit(.minutes(1)))
    func stopPartWay() throws {
        let (text, _) = Self.feed(20_000)
        let path = try Self.file(text)
        defer { unlink(path) }
        weak var freed: FeedPrefetch?
        do {
            let prefetch = FeedPrefetch(
                reader: try FeedReader(path: path), settings: Self.settings, threads: 1, depth: 2, batchLines: 10)
            freed = prefetch
            #expect(prefetch.next() != nil)
            // The queue fills: the reading thread then waits for room.
            let full = ContinuousClock.now + .seconds(20)
            while prefetch.queued < 2 && ContinuousClock.now < full { usleep(1_000) }
            #expect(prefetch.queued == 2)
            prefetch.stop()
            #expect(prefetch.waitUntilDone(seconds: 30), "the thread ends")
            // The batches still queued are never taken, as when a replay fails.
        }
        // Freed with batches queued (libdispatch traps on a semaphore freed below its starting value).
        let gone = ContinuousClock.now + .seconds(20)
        while freed != nil && ContinuousClock.now < gone { usleep(1_000) }
        #expect(freed == nil)
    }
}
