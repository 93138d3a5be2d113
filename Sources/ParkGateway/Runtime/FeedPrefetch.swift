import Dispatch
import Foundation
import ParkIngest
import Synchronization
import TelemetryCore

/// A replay's feed read, parsed, sharded and its payloads decoded ahead of the pipelines, on a
/// thread of its own: while the shards ingest one batch of lines the next is read, as `run`
/// reads the network on a thread apart from ingest. Batches come out in feed order and at most
/// `depth` wait, so memory stays bounded whatever the feed's size; the output is the same bytes
/// as reading on the ingesting thread.
package final class FeedPrefetch: Sendable {
    /// A batch's records as parsed and, for each record (across the parts in order), its feed
    /// line number and its key (a placeholder for a bad line).
    package struct Batch: Sendable {
        package var parts: [FeedBatch.Part]
        package var numbers: [Int]
        package var keys: [Key]
    }

    package struct Key: Sendable {
        package var shard: Int32
        /// `TopicShards.Place.hash`.
        package var hash: UInt32
        /// The replay's number for the topic (`TopicShards.Place.topic`), or -1.
        package var topic: Int32 = -1
        package var decoded: Decoded
    }

    /// A payload decoded here by the decoder of the first route whose pattern matches its topic,
    /// at the line's time (the route and arrival the pipeline decodes with, for a topic it does
    /// not refuse first): its readings (a range of the part's `readings`) or why it failed.
    package enum Decoded: Sendable {
        /// Not decoded here, left to the pipeline: no route matches, or the route's payloads
        /// are Sparkplug's.
        case byPipeline
        case readings(route: Int32, Range<Int>)
        /// The index of the error in the part's `errors`.
        case failed(route: Int32, Int32)
    }

    private struct Queue {
        var batches: [Batch] = []
        var stopped = false
    }

    private let queue = Mutex(Queue())
    /// Batches the caller is done with (`giveBack`): freed on the reading thread, which has
    /// time to spare, not on the ingesting one.
    private let spent = Mutex<[Batch]>([])
    /// One signal per batch queued, and one at the end.
    private let ready = DispatchSemaphore(value: 0)
    /// Free places in the queue. Made at 0 and signalled up to `depth`: libdispatch traps when
    /// a semaphore is freed below the value it was made with, which a replay stopped part way
    /// leaves it.
    private let room = DispatchSemaphore(value: 0)
    /// Signalled once, when the thread is done (for `waitUntilDone`).
    private let finished = DispatchSemaphore(value: 0)

    /// The reader moves to the prefetch thread, the only one to use it from then on.
    private final class Handover: @unchecked Sendable {
        let reader: FeedReader
        init(_ reader: FeedReader) { self.reader = reader }
    }

    /// Starts reading `reader` (which the caller must not touch again): `threads` parse each
    /// batch, as many as the replay's workers.
    /// A part holds at most about `readingBudget` readings decoded ahead (5 MiB at the default);
    /// past that its payloads are left to the pipeline, which decodes one at a time: a feed of
    /// payloads with thousands of fields each cannot make a batch hold gigabytes.
    /// A batch also ends once its lines hold `batchBytes` (a line longer than that is a batch
    /// of its own): four batches of long lines wait, not four of 2 048 long lines.
    package init(
        reader: FeedReader, settings: IngestPipeline.Settings, threads: Int, depth: Int = 4, batchLines: Int = 2048,
        batchBytes: Int = 8 << 20, readingBudget: Int = 65_536
    ) {
        for _ in 0..<max(1, depth) { room.signal() }
        let handover = Handover(reader)
        let routes = settings.routes
        let maxTopicBytes = settings.limits.maxTopicBytes
        let thread = Thread { [self] in
            produce(
                handover.reader, routes: routes, maxTopicBytes: maxTopicBytes, threads: threads,
                batchLines: batchLines, batchBytes: batchBytes, readingBudget: readingBudget)
        }
        thread.name = "parkd-feed"
        thread.start()
    }

    private func produce(
        _ reader: FeedReader, routes: [TopicRoute], maxTopicBytes: Int, threads: Int, batchLines: Int,
        batchBytes: Int, readingBudget: Int
    ) {
        defer {
            ready.signal()
            finished.signal()
        }
        var shards = TopicShards(routes: routes, maxTopicBytes: maxTopicBytes)
        // Per route, made once: the decoder its payloads are decoded ahead with, nil for
        // Sparkplug's (left to the pipeline).
        let decoders = routes.map { $0.sparkplug == nil ? Decoder($0.decoder) : nil }
        var lines: [FeedBatch.Line] = []
        lines.reserveCapacity(batchLines)
        while true {
            room.wait()
            if queue.withLock({ $0.stopped }) { return }
            // The batches given back are freed on this thread, outside the lock (the
            // ingesting thread's `giveBack` takes it).
            var done: [Batch] = []
            spent.withLock { swap(&$0, &done) }
            done.removeAll()
            lines.removeAll(keepingCapacity: true)
            var numbers: [Int] = []
            numbers.reserveCapacity(batchLines)
            var bytes = 0
            while lines.count < batchLines, bytes < batchBytes, let line = reader.nextLine() {
                if line.isEmpty { continue }
                lines.append(FeedBatch.Line(bytes: line))
                numbers.append(reader.lineNumber)
                bytes += line.count
            }
            if lines.isEmpty { return }
            let batch: Batch
            if threads <= 1 {
                let (part, keys) = Self.read(lines, in: &shards, decoders: decoders, budget: readingBudget)
                reader.releaseRead()
                batch = Batch(parts: [part], numbers: numbers, keys: keys)
            } else {
                let parts = FeedBatch.parse(lines, threads: threads)
                // The records' bytes are in the parts: the lines' buffers are done with.
                reader.releaseRead()
                // Shards and routes in feed order (the topic map is this thread's), then each
                // part's payloads decoded, on a thread of its own when there are several.
                let places = parts.map { Self.places(of: $0, in: &shards) }
                let decoded = Self.decode(parts, places, decoders: decoders, budget: readingBudget)
                batch = Batch(parts: decoded.map(\.part), numbers: numbers, keys: decoded.flatMap(\.keys))
            }
            queue.withLock { $0.batches.append(batch) }
            ready.signal()
        }
    }

    /// One part's lines parsed, placed and decoded line by line, on this thread (one parsing
    /// thread): what `FeedBatch.parse`, `places` and `decode` give, but a written line's JSON
    /// payload is decoded where it lies in the line, still escaped
    /// (`PayloadDecoder.decodeEscaped`), and not copied into the part's bytes: its record's
    /// payload is empty, which the pipeline never reads, as it takes the readings decoded
    /// here. Any other line goes the general way. A topic is looked up unkept
    /// (`TopicShards.place(of:keeping:)`) and numbered only once its line is known to be good,
    /// in feed order, as there.
    private static func read(
        _ lines: [FeedBatch.Line], in shards: inout TopicShards, decoders: [Decoder?], budget: Int
    ) -> (part: FeedBatch.Part, keys: [Key]) {
        // Topics only, mostly: payloads taken in place need no room.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(lines.count * 64)
        var records: [FeedRecord.Placed?] = []
        records.reserveCapacity(lines.count)
        var failures: [Int: FeedError] = [:]
        var keys: [Key] = []
        keys.reserveCapacity(lines.count)
        var readings: [Reading] = []
        readings.reserveCapacity(lines.count)
        var errors: [PayloadError] = []
        for line in lines {
            let mark = bytes.count
            var record: FeedRecord.Placed?
            var place: TopicShards.Place?
            if let head = FeedRecord.placeWrittenHead(line.bytes, into: &bytes) {
                // Looked at, not kept, until the line is known to be good.
                let found = bytes.withUnsafeBufferPointer {
                    shards.place(of: UnsafeBufferPointer(rebasing: $0[head.topic]), keeping: false)
                }
                func numbered() -> TopicShards.Place {
                    guard found.topic < 0 else { return found }
                    return bytes.withUnsafeBufferPointer {
                        shards.place(of: UnsafeBufferPointer(rebasing: $0[head.topic]), hash: found.hash)
                    }
                }
                if found.route >= 0, let decoder = decoders[Int(found.route)], readings.count < budget {
                    let start = readings.count
                    let payload = UnsafeBufferPointer(rebasing: line.bytes[head.payload])
                    if decoder.decodeEscaped(payload, arrival: head.time, into: &readings) {
                        let kept = numbered()
                        records.append(
                            FeedRecord.Placed(time: head.time, topic: head.topic, payload: bytes.count..<bytes.count))
                        keys.append(
                            Key(
                                shard: kept.shard, hash: kept.hash, topic: kept.topic,
                                decoded: .readings(route: kept.route, start..<readings.count)))
                        continue
                    }
                }
                record = FeedRecord.placeWrittenPayload(line.bytes, head, into: &bytes)
                if record != nil { place = numbered() }
            }
            if record == nil {
                bytes.removeLast(bytes.count - mark)
                do throws(FeedError) {
                    let parsed = try FeedRecord.parse(line.bytes, into: &bytes)
                    record = parsed
                    place = bytes.withUnsafeBufferPointer {
                        shards.place(of: UnsafeBufferPointer(rebasing: $0[parsed.topic]))
                    }
                } catch {
                    failures[records.count] = error
                }
            }
            records.append(record)
            keys.append(
                bytes.withUnsafeBufferPointer {
                    key(record, place, $0, decoders: decoders, budget: budget, readings: &readings, errors: &errors)
                })
        }
        return (
            FeedBatch.Part(
                records: records, failures: failures, bytes: FeedBytes(bytes, readings: readings, errors: errors)),
            keys
        )
    }

    /// Where each record's topic goes (nil for a bad line), in order.
    private static func places(of part: FeedBatch.Part, in shards: inout TopicShards) -> [TopicShards.Place?] {
        part.bytes.bytes.withUnsafeBufferPointer { bytes in
            part.records.map { placed in
                guard let record = placed else { return nil }
                return shards.place(of: UnsafeBufferPointer(rebasing: bytes[record.topic]))
            }
        }
    }

    /// The parts with their payloads decoded (each part on a thread of its own when there are
    /// several: they share nothing), and each record's key.
    private static func decode(
        _ parts: [FeedBatch.Part], _ places: [[TopicShards.Place?]], decoders: [Decoder?], budget: Int
    ) -> [(part: FeedBatch.Part, keys: [Key])] {
        guard parts.count > 1 else {
            return parts.indices.map { decode(parts[$0], places[$0], decoders: decoders, budget: budget) }
        }
        return FeedBatch.inParallel(parts.count) {
            decode(parts[$0], places[$0], decoders: decoders, budget: budget)
        }
    }

    /// One part's payloads decoded by their routes' decoders at their lines' times (Sparkplug's,
    /// those of topics no pattern takes, and all once `budget` readings are held are left to the
    /// pipeline).
    private static func decode(
        _ part: FeedBatch.Part, _ places: [TopicShards.Place?], decoders: [Decoder?], budget: Int
    ) -> (part: FeedBatch.Part, keys: [Key]) {
        var keys: [Key] = []
        keys.reserveCapacity(part.records.count)
        var readings: [Reading] = []
        readings.reserveCapacity(part.records.count)
        var errors: [PayloadError] = []
        part.bytes.bytes.withUnsafeBufferPointer { bytes in
            for (placed, found) in zip(part.records, places) {
                keys.append(
                    key(placed, found, bytes, decoders: decoders, budget: budget, readings: &readings, errors: &errors))
            }
        }
        return (
            FeedBatch.Part(
                records: part.records, failures: part.failures,
                bytes: FeedBytes(part.bytes.bytes, readings: readings, errors: errors)), keys
        )
    }

    /// A record's key: its place, and its payload decoded by its route's decoder at its time
    /// (appended to `readings`, or its error to `errors`), or left to the pipeline (a bad
    /// line, Sparkplug's, a topic no pattern takes, or `budget` readings held already).
    private static func key(
        _ placed: FeedRecord.Placed?, _ found: TopicShards.Place?, _ bytes: UnsafeBufferPointer<UInt8>,
        decoders: [Decoder?], budget: Int, readings: inout [Reading], errors: inout [PayloadError]
    ) -> Key {
        guard let record = placed, let place = found else { return Key(shard: 0, hash: 0, decoded: .byPipeline) }
        guard place.route >= 0, let decoder = decoders[Int(place.route)], readings.count < budget else {
            return Key(shard: place.shard, hash: place.hash, topic: place.topic, decoded: .byPipeline)
        }
        let start = readings.count
        do throws(PayloadError) {
            try decoder.decode(
                UnsafeBufferPointer(rebasing: bytes[record.payload]), arrival: record.time, into: &readings)
            return Key(
                shard: place.shard, hash: place.hash, topic: place.topic,
                decoded: .readings(route: place.route, start..<readings.count))
        } catch {
            readings.removeSubrange(start...)
            errors.append(error)
            return Key(
                shard: place.shard, hash: place.hash, topic: place.topic,
                decoded: .failed(route: place.route, Int32(errors.count - 1)))
        }
    }

    /// A route's decoder in a box: an array element of the struct itself was copied (its
    /// field names retained and released) for each payload it decoded.
    private final class Decoder: Sendable {
        let decoder: PayloadDecoder
        init(_ decoder: PayloadDecoder) { self.decoder = decoder }

        func decode(_ payload: UnsafeBufferPointer<UInt8>, arrival: EventTime, into readings: inout [Reading])
            throws(PayloadError)
        {
            try decoder.decode(payload, arrival: arrival, into: &readings)
        }

        func decodeEscaped(_ payload: UnsafeBufferPointer<UInt8>, arrival: EventTime, into readings: inout [Reading])
            -> Bool
        {
            decoder.decodeEscaped(payload, arrival: arrival, into: &readings)
        }
    }

    /// The next batch in feed order, waiting for it; nil once the feed has ended (or `stop`).
    package func next() -> Batch? {
        ready.wait()
        let batch: Batch? = queue.withLock { queue in
            if queue.batches.isEmpty {
                // The end: the signal stays for any later call.
                return nil
            }
            return queue.batches.removeFirst()
        }
        if batch == nil { ready.signal() } else { room.signal() }
        return batch
    }

    /// Hands back a batch from `next` that the caller is done with, to be freed on the
    /// reading thread.
    package func giveBack(_ batch: Batch) {
        spent.withLock { $0.append(batch) }
    }

    /// Stops reading (a replay that failed part way): the thread ends before its next batch,
    /// and lets go of the reader then. Returns at once (a feed read from a pipe may block the
    /// thread until its writer sends more); calling it again does nothing more.
    package func stop() {
        queue.withLock { $0.stopped = true }
        // Wakes the thread if it waits for room; an extra signal is harmless.
        room.signal()
    }

    /// Batches queued and not yet taken (for tests).
    package var queued: Int { queue.withLock { $0.batches.count } }

    /// Waits up to `seconds` for the thread to end (for tests); true if it has.
    package func waitUntilDone(seconds: Double) -> Bool {
        guard finished.wait(timeout: .now() + seconds) == .success else { return false }
        finished.signal()
        return true
    }
}
