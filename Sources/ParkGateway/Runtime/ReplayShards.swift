import Dispatch
import Logging
import ParkConfig
import ParkIngest
import Synchronization
import TelemetryCore
import UplinkWire

/// A replay's pipelines: parks are spread over a fixed number of shards (by a hash of the
/// park's name), each shard a pipeline of its own, so a park's figures never cross shards and
/// its floating-point sums are added in the same order however many threads run them. The
/// shard count does not depend on the workers: `--workers 1` and `--workers 2` write the same
/// bytes. Alert transitions are tagged with the feed record that caused them and written in
/// record order, shard order within a record.
package final class ReplayShards: IntervalSource {
    package static let shardCount = 8

    package struct Tagged {
        package var record: Int
        package var shard: Int
        package var order: Int
        package var transition: AlertTransition
    }

    package enum Item {
        /// A feed line: its topic and payload are ranges of `bytes`; `key` has its shard, its
        /// topic's hash and its payload as decoded ahead.
        case message(
            record: Int, key: FeedPrefetch.Key, bytes: FeedBytes, topic: Range<Int>, payload: Range<Int>,
            time: EventTime, retain: Bool)
        case tick(record: Int, time: EventTime)
    }

    package let shards: [IngestPipeline]
    private let workers: [Worker]
    /// The one worker, when there is one (`runsInPlace`), unretained: `workers` keeps it, and
    /// taking it from either per message retained and released it.
    private let single: Unmanaged<Worker>?
    private var pending: [[Item]]
    private let group = DispatchGroup()

    /// One thread's share of the shards (shard s belongs to worker s % workers).
    package final class Worker: Sendable {
        package let queue: DispatchQueue
        package let alerts = Mutex<[Tagged]>([])
        /// By shard index: this worker's pipelines, nil for another worker's shard.
        private let pipelines: [IngestPipeline?]
        /// The same, unretained (`pipelines` keeps them): one is called per message, and read
        /// from `pipelines` it was retained and released each time.
        private let unretained: [Unmanaged<IngestPipeline>?]
        /// Handed-over chunks not yet run, at most 4: the reading side waits rather than queue a
        /// feed whose times stay in one summary interval whole. Made at 0 and signalled up
        /// (libdispatch traps on a semaphore freed below its starting value).
        package let room = DispatchSemaphore(value: 0)

        package init(index: Int, shards: [(index: Int, pipeline: IngestPipeline)]) {
            queue = DispatchQueue(label: "parkd.replay.\(index)")
            var pipelines = [IngestPipeline?](repeating: nil, count: ReplayShards.shardCount)
            for (s, pipeline) in shards { pipelines[s] = pipeline }
            self.pipelines = pipelines
            unretained = pipelines.map { $0.map(Unmanaged.passUnretained) }
            for _ in 0..<4 { room.signal() }
        }

        /// One message whose topic and payload are ranges of `text` (its batch part's bytes,
        /// `readings` the part's decoded readings, `errors` the part that holds its errors).
        /// Returns its shard when it queued alert transitions (`collect` takes them), or -1.
        func ingest(
            key: FeedPrefetch.Key, text: UnsafeBufferPointer<UInt8>, readings: UnsafeBufferPointer<Reading>,
            errors: FeedBytes, topic: Range<Int>, payload: Range<Int>, time: EventTime, retain: Bool
        ) -> Int {
            let shard = Int(key.shard)
            let ahead: IngestPipeline.Predecoded? =
                switch key.decoded {
                case .byPipeline: nil
                case .readings(let route, let range):
                    .readings(route: Int(route), UnsafeBufferPointer(rebasing: readings[range]))
                case .failed(let route, let k): .failed(route: Int(route), errors.errors[Int(k)])
                }
            let queued = unretained[shard]!._withUnsafeGuaranteedRef { pipeline in
                pipeline.ingest(
                    topic: UnsafeBufferPointer(rebasing: text[topic]), topicHash: key.hash, topicAlias: key.topic,
                    payload: UnsafeBufferPointer(rebasing: text[payload]), decoded: ahead, arrival: time,
                    retained: retain)
            }
            return queued > 0 ? shard : -1
        }

        /// The transitions shard `shard` queued for feed record `record`, tagged, into `found`.
        func collect(record: Int, shard: Int, into found: inout [Tagged]) {
            for (order, t) in pipelines[shard]!.takeAlerts().enumerated() {
                found.append(Tagged(record: record, shard: shard, order: order, transition: t))
            }
        }

        /// As `collect(record:shard:into:)`, straight into `alerts`.
        func collect(record: Int, shard: Int) {
            var found: [Tagged] = []
            collect(record: record, shard: shard, into: &found)
            alerts.withLock { $0 += found }
        }

        package func run(_ items: [Item]) {
            var found: [Tagged] = []
            for item in items { run(item, into: &found) }
            if !found.isEmpty { alerts.withLock { $0 += found } }
        }

        /// One item, run as it comes (one worker: no chunk is gathered, so a chunk's items do
        /// not pass through the cache between being made and being run).
        package func run(_ item: Item) {
            var found: [Tagged] = []
            run(item, into: &found)
            if !found.isEmpty { alerts.withLock { $0 += found } }
        }

        private func run(_ item: Item, into found: inout [Tagged]) {
            switch item {
            case .message(let record, let key, let bytes, let topic, let payload, let time, let retain):
                let shard = bytes.bytes.withUnsafeBufferPointer { text in
                    bytes.readings.withUnsafeBufferPointer { readings in
                        ingest(
                            key: key, text: text, readings: readings, errors: bytes, topic: topic, payload: payload,
                            time: time, retain: retain)
                    }
                }
                if shard >= 0 { collect(record: record, shard: shard, into: &found) }
            case .tick(let record, let time):
                for (index, pipeline) in pipelines.enumerated() {
                    guard let pipeline, pipeline.tick(at: time) > 0 else { continue }
                    for (order, t) in pipeline.takeAlerts().enumerated() {
                        found.append(Tagged(record: record, shard: index, order: order, transition: t))
                    }
                }
            }
        }
    }

    package init(settings: IngestPipeline.Settings, workers count: Int, logger: Logger) {
        var shards: [IngestPipeline] = []
        for s in 0..<Self.shardCount {
            var own = settings
            // A park's expected sensors belong to its shard only, or each shard would count them.
            own.expectedSensors = settings.expectedSensors.filter { Self.shard(ofPark: $0.park) == s }
            // Each shard's own spec boxes: the workers' rings then count references on lines
            // no other core writes.
            own.windows = settings.windows.map(\.unshared)
            shards.append(IngestPipeline(settings: own, logger: logger))
        }
        self.shards = shards
        let n = max(1, min(count, Self.shardCount))
        workers = (0..<n).map { w in
            Worker(index: w, shards: shards.enumerated().filter { $0.offset % n == w }.map { ($0.offset, $0.element) })
        }
        pending = Array(repeating: [], count: n)
        single = n == 1 ? Unmanaged.passUnretained(workers[0]) : nil
    }

    /// FNV-1a of the park's name: the same shard in every run and on every machine.
    package static func shard(ofPark park: String) -> Int {
        Int(fnv1a64(Array(park.utf8)) % UInt64(shardCount))
    }

    package func add(_ item: Item) {
        // One worker runs on this thread anyway: each item at once, in the order added.
        if workers.count == 1 { return workers[0].run(item) }
        let w: Int
        switch item {
        case .message(_, let key, _, _, _, _, _): w = Int(key.shard) % workers.count
        case .tick:
            for k in workers.indices { pending[k].append(item) }
            flushIfFull()
            return
        }
        pending[w].append(item)
        if pending[w].count >= 4096 { send(w) }
    }

    /// Whether there is one worker, which runs each message at once on the calling thread:
    /// then `ingestNow` takes a message straight from its batch part's buffers (no `Item`,
    /// which holds a reference to the part, is made per message).
    package var runsInPlace: Bool { workers.count == 1 }

    /// A message run at once (one worker only, see `runsInPlace`), in the order called.
    package func ingestNow(
        record: Int, key: FeedPrefetch.Key, text: UnsafeBufferPointer<UInt8>, readings: UnsafeBufferPointer<Reading>,
        errors: FeedBytes, topic: Range<Int>, payload: Range<Int>, time: EventTime, retain: Bool
    ) {
        guard let single else { preconditionFailure("ingestNow is for one worker") }
        single._withUnsafeGuaranteedRef { single in
            let shard = single.ingest(
                key: key, text: text, readings: readings, errors: errors, topic: topic, payload: payload, time: time,
                retain: retain)
            if shard >= 0 { single.collect(record: record, shard: shard) }
        }
    }

    /// Hands every worker what is pending, without waiting: after each batch of the feed, so
    /// a worker's list never holds records of many batches (each holds its batch part's text
    /// and decoded readings, megabytes) until a summary boundary.
    package func handOver() {
        for w in workers.indices where !pending[w].isEmpty { send(w) }
    }

    private func flushIfFull() {
        for w in workers.indices where pending[w].count >= 4096 { send(w) }
    }

    private func send(_ w: Int) {
        let items = pending[w]
        pending[w] = []
        // Several workers only: with one, `add` runs each item at once and nothing is pending.
        let worker = workers[w]
        worker.room.wait()
        worker.queue.async(group: group) {
            worker.run(items)
            worker.room.signal()
        }
    }

    /// Runs everything handed over and returns the alert transitions, in record order.
    package func drain() -> [AlertTransition] {
        handOver()
        group.wait()
        var all: [Tagged] = []
        for worker in workers {
            all += worker.alerts.withLock { taken in
                defer { taken.removeAll() }
                return taken
            }
        }
        all.sort { ($0.record, $0.shard, $0.order) < ($1.record, $1.shard, $1.order) }
        return all.map(\.transition)
    }

    /// The shards' intervals as one: counts added, parks in order, series in order.
    package func takeInterval(schedule k: Int, from: EventTime?, to: EventTime?, details: Bool, final: Bool)
        -> IngestPipeline.Snapshot
    {
        var merged = IngestPipeline.Snapshot(counters: IngestCounters(), series: [], seriesTotal: 0, seriesReporting: 0)
        for shard in shards {
            let part = shard.takeInterval(schedule: k, from: from, to: to, details: details, final: final)
            merged.counters.add(part.counters)
            merged.series += part.series
            merged.seriesTotal += part.seriesTotal
            merged.seriesReporting += part.seriesReporting
            merged.parks += part.parks
            merged.compliance += part.compliance
            merged.rollups += part.rollups
        }
        merged.compliance = ComplianceFormat.ordered(merged.compliance)
        merged.parks.sort { ($0.park, $0.pillar.rawValue) < ($1.park, $1.pillar.rawValue) }
        return merged
    }

    package var totals: IngestCounters {
        var total = IngestCounters()
        for shard in shards { total.add(shard.totals) }
        return total
    }
}
