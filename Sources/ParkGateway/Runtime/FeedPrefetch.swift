import Dispatch
import Foundation
import ParkIngest
import Synchronization
import TelemetryCore

/// A replay's feed read, parsed, sharded and its payloads decoded ahead of the pipelines, on a
/// thread of its own:
/// while the shards ingest one batch of lines the next is read, as `run` reads the network on
/// a thread apart from ingest. Batches come out in feed order and at most `depth` wait, so
/// memory stays bounded whatever the feed's size; the output is the same bytes as reading
/// on the ingesting thread.
package final class FeedPrefetch: Sendable {
    /// A batch's records as parsed, with the feed line number of each and, for each good
    /// record, its shard and its topic's hash (read across the parts in order).
    package struct Batch: Sendable {
        package var parts: [FeedBatch.Part]
        package var numbers: [Int]
        package var keys: [Key]
    }

    package struct Key: Sendable {
        package var shard: Int32
        /// `TopicIndex.hash` of the topic: the pipeline's route lookup takes it instead of
        /// hashing the topic again.
        package var hash: UInt32
        package var decoded: Decoded
    }

    /// A payload decoded here by its route's decoder, at the line's time, as the pipeline
    /// would decode it: its readings (a range of the part's `readings`) or why it failed.
    package enum Decoded: Sendable {
        /// Not decoded here: no route matches, or the route's payloads are Sparkplug's.
        case none
        case readings(route: Int32, Range<Int>)
        case failed(route: Int32, PayloadError)
    }

    private struct Queue {
        var batches: [Batch] = []
        var ended = false
        var stopped = false
    }

    private let queue = Mutex(Queue())
    /// One signal per batch queued, and one at the end.
    private let ready = DispatchSemaphore(value: 0)
    /// Free places in the queue. Made at 0 and signalled up to `depth`: libdispatch traps when
    /// a semaphore is freed below the value it was made with, which a replay stopped part way
    /// leaves it.
    private let room = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    /// The reader moves to the prefetch thread, the only one to use it from then on.
    private final class Handover: @unchecked Sendable {
        let reader: FeedReader
        init(_ reader: FeedReader) { self.reader = reader }
    }

    /// Starts reading `reader` (which the caller must not touch again): `threads` parse each
    /// batch, as many as the replay's workers.
    package init(reader: FeedReader, routes: [TopicRoute], threads: Int, depth: Int = 4, batchLines: Int = 2048) {
        for _ in 0..<max(1, depth) { room.signal() }
        let handover = Handover(reader)
        let thread = Thread { [self] in
            produce(handover.reader, routes: routes, threads: threads, batchLines: batchLines)
        }
        thread.name = "parkd-feed"
        thread.start()
    }

    private func produce(_ reader: FeedReader, routes: [TopicRoute], threads: Int, batchLines: Int) {
        defer {
            queue.withLock { $0.ended = true }
            ready.signal()
            finished.signal()
        }
        var shards = TopicShards(routes: routes)
        var lines: [FeedBatch.Line] = []
        lines.reserveCapacity(batchLines)
        while true {
            room.wait()
            if queue.withLock({ $0.stopped }) { return }
            lines.removeAll(keepingCapacity: true)
            var numbers: [Int] = []
            numbers.reserveCapacity(batchLines)
            while lines.count < batchLines, let line = reader.nextLine() {
                if line.isEmpty { continue }
                lines.append(FeedBatch.Line(bytes: line))
                numbers.append(reader.lineNumber)
            }
            if lines.isEmpty { return }
            let parts = FeedBatch.parse(lines, threads: threads)
            // The records' bytes are in the parts: the lines' buffers are done with.
            reader.releaseRead()
            var keys: [Key] = []
            keys.reserveCapacity(lines.count)
            let decoded = parts.map { part in
                var readings: [Reading] = []
                readings.reserveCapacity(part.records.count)
                part.bytes.bytes.withUnsafeBufferPointer { bytes in
                    for result in part.records {
                        guard case .success(let record) = result else {
                            keys.append(Key(shard: 0, hash: 0, decoded: .none))
                            continue
                        }
                        let topic = UnsafeBufferPointer(rebasing: bytes[record.topic])
                        let hash = TopicIndex.hash(topic)
                        let place = shards.place(of: topic, hash: hash)
                        let r = Int(place.route)
                        guard r >= 0, routes[r].sparkplug == nil else {
                            keys.append(Key(shard: place.shard, hash: hash, decoded: .none))
                            continue
                        }
                        let start = readings.count
                        do throws(PayloadError) {
                            try routes[r].decoder.decode(
                                UnsafeBufferPointer(rebasing: bytes[record.payload]), arrival: record.time,
                                into: &readings)
                            keys.append(
                                Key(
                                    shard: place.shard, hash: hash,
                                    decoded: .readings(route: place.route, start..<readings.count)))
                        } catch {
                            readings.removeSubrange(start...)
                            keys.append(
                                Key(shard: place.shard, hash: hash, decoded: .failed(route: place.route, error)))
                        }
                    }
                }
                return FeedBatch.Part(records: part.records, bytes: FeedBytes(part.bytes.bytes, readings: readings))
            }
            let batch = Batch(parts: decoded, numbers: numbers, keys: keys)
            queue.withLock { $0.batches.append(batch) }
            ready.signal()
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

    /// Stops reading (a replay that failed part way) and waits for the thread to let go of the
    /// reader. Called once, also after the end.
    package func stop() {
        queue.withLock { $0.stopped = true }
        room.signal()
        finished.wait()
    }
}
