import Dispatch
import Foundation
import Logging
import ParkConfig
import ParkIngest
import Synchronization
import TelemetryCore
import UplinkWire

/// `parkd replay FEED`: the same pipeline and summaries as `parkd run`, driven by the feed's
/// arrival times instead of the clock, as fast as it goes. The same feed gives the same
/// summary file, byte for byte.
public final class Replay {
    public struct Report: Sendable {
        public var records = 0
        public var badLines = 0
        public var seconds = 0.0
        public var totals = IngestCounters()
        public var alerts = 0
        /// Rows written to the history store (with --history), and the seconds it took.
        public var historyRows = 0
        public var historySeconds = 0.0
    }

    private let configuration: DaemonConfiguration
    private let logger: Logger
    /// Threads ingesting in parallel (parks spread over `ReplayShards`); the output is the
    /// same bytes for any number.
    private let workers: Int

    /// For a command that exits once the replay is done: the pipelines' state (hundreds of
    /// megabytes in small blocks at 100 000 series) is kept until this object goes, for the
    /// exit to drop whole, not freed block by block at the end of `run` (4 % of a
    /// 100 000-series replay's time in the profile). Only the pipelines: memory alone, with no
    /// file and no deinit that does anything. The outputs and the history store are closed
    /// by `run` as ever (a store left open would keep its last batches in its write-ahead log).
    public var leavesStateToExit = false
    private var leftPipelines: ReplayShards?

    public init(configuration: DaemonConfiguration, logger: Logger, workers: Int = 1) {
        self.configuration = configuration
        self.logger = logger
        self.workers = workers
    }

    public func run(feed: String) throws(DaemonError) -> Report {
        let reader = try FeedReader(path: feed)
        // The same outputs `run` opens, started afresh.
        let outputs = try GatewayOutputs(
            configuration: configuration, truncate: true, logger: logger, historyRequired: true)
        defer { outputs.close() }
        let alerts = outputs.alerts
        // One settings value for the shards and the reading thread: the route indices the reader
        // decodes by are the pipelines' own.
        let settings = configuration.pipelineSettings
        let shards = ReplayShards(settings: settings, workers: workers, logger: logger)
        let scheduler = outputs.scheduler(source: shards, configuration: configuration, logger: logger)
        // Lines that only go to files are formatted and written on a queue of their own, off
        // the ingesting thread (the scheduler keeps them in place for history and callbacks).
        scheduler.writer = DispatchQueue(label: "parkd.replay.summaries")
        // Before the files close (declared after their `defer`, so run before it), on any exit.
        defer { scheduler.waitForWriter() }
        let history = outputs.history
        // Reports of each day the feed completes (with --reports): written once the store holds it.
        var days: [(day: String, parks: [String])] = []
        if history != nil, configuration.history.reportsDirectory != nil {
            let offset = configuration.summaries.utcOffsetMinutes
            scheduler.onDayClosed = { from, _, parks in
                days.append((RFC3339.day(from, offsetMinutes: offset), parks))
            }
        }
        var report = Report()
        let started = ContinuousClock.now
        var last: EventTime?
        var lastTick: Int64?
        func flushAlerts() throws(DaemonError) {
            let transitions = shards.drain()
            report.alerts += transitions.count
            try alerts.write(transitions)
            let offset = configuration.summaries.utcOffsetMinutes
            history?.add(
                alerts: transitions.map { ($0.at.milliseconds, AlertFormat.json($0, utcOffsetMinutes: offset)) })
        }
        // Lines are read, parsed, sharded and their payloads decoded ahead on a thread of their
        // own (each batch parsed on several threads when there are several workers).
        let feedLines = FeedPrefetch(reader: reader, settings: settings, threads: workers)
        defer { feedLines.stop() }
        let inPlace = shards.runsInPlace
        while let batch = feedLines.next() {
            var k = 0
            for part in batch.parts {
                // The part's buffers are lent once for all its lines: one worker takes each
                // message straight from them (`ReplayShards.ingestNow`); several are handed an
                // `Item` that holds the part.
                try part.bytes.bytes.withUnsafeBufferPointer { (text) throws(DaemonError) in
                    try part.bytes.readings.withUnsafeBufferPointer { (readings) throws(DaemonError) in
                        for (line, placed) in part.records.enumerated() {
                            defer { k += 1 }
                            guard let record = placed else {
                                report.badLines += 1
                                if report.badLines <= 20, let error = part.failures[line] {
                                    logger.warning("\(feed):\(batch.numbers[k]): skipped: \(error)")
                                } else if report.badLines == 21 {
                                    logger.warning("\(feed): more bad lines; counting them without logging each")
                                }
                                continue
                            }
                            let index = report.records
                            report.records += 1
                            // Silence is checked every 10 s of feed time, as `run` checks it every
                            // second. A feed whose clock went back ticks from there on.
                            if lastTick.map({
                                record.time.milliseconds - $0 >= 10_000 || record.time.milliseconds < $0
                            }) ?? true {
                                shards.add(.tick(record: index, time: record.time))
                                lastTick = record.time.milliseconds
                            }
                            // A summary boundary (or a clock step back) needs every shard's figures up to here.
                            if scheduler.hasWork(at: record.time) {
                                try flushAlerts()
                                scheduler.advance(to: record.time)
                            }
                            if inPlace {
                                shards.ingestNow(
                                    record: index, key: batch.keys[k], text: text, readings: readings,
                                    errors: part.bytes, topic: record.topic, payload: record.payload,
                                    time: record.time, retain: record.retain)
                            } else {
                                shards.add(
                                    .message(
                                        record: index, key: batch.keys[k], bytes: part.bytes, topic: record.topic,
                                        payload: record.payload, time: record.time, retain: record.retain))
                            }
                            // The replay's clock is the feed's `t` as it goes, back steps included.
                            last = record.time
                        }
                    }
                }
            }
            shards.handOver()
            feedLines.giveBack(batch)
        }
        try flushAlerts()
        if let last { scheduler.finish(at: last, final: true) }
        if let history {
            history.flush()
            let status = history.status
            report.historyRows = status.written
            report.historySeconds = status.seconds
            if let error = status.error { throw DaemonError.output(path: history.path, reason: error) }
            if let folder = configuration.history.reportsDirectory {
                for (day, parks) in days {
                    Daemon.writeReports(
                        path: history.path, parks: parks, day: day, folder: folder,
                        pdf: configuration.history.reportsPDF, offset: configuration.summaries.utcOffsetMinutes,
                        logger: logger)
                }
            }
        }
        // Summary lines a full disk refused end the replay in an error, not in silence.
        if let error = scheduler.unwritten() { throw error }
        let elapsed = ContinuousClock.now - started
        report.seconds = elapsed.inSeconds
        report.totals = shards.totals
        if leavesStateToExit { leftPipelines = shards }
        return report
    }
}

/// Feed lines parsed in order, on several threads when asked: each thread takes a contiguous
/// part of the batch and writes only its own results, and its records' topics and payloads
/// into one buffer of its own (no allocation per line).
package enum FeedBatch {
    /// A line in the feed reader's memory, read only, parsed before the reader goes.
    package struct Line: @unchecked Sendable {
        package let bytes: UnsafeBufferPointer<UInt8>
    }

    /// A part's records, in order, and the buffer their ranges point into.
    package struct Part: Sendable {
        /// Each line's record, nil for a bad line (whose error is in `failures`): an element
        /// with no reference in it, so that going over the records copies no error text (a
        /// `Result` per line was copied, with its reference counting, on both threads).
        package var records: [FeedRecord.Placed?]
        /// Why each bad line was skipped, by its index in `records`.
        package var failures: [Int: FeedError] = [:]
        package var bytes: FeedBytes
    }

    package static func parse(_ lines: [Line], threads: Int) -> [Part] {
        let count = lines.count
        @Sendable func part(_ range: Range<Int>) -> Part {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(range.count * 160)
            var records: [FeedRecord.Placed?] = []
            records.reserveCapacity(range.count)
            var failures: [Int: FeedError] = [:]
            for i in range {
                do throws(FeedError) {
                    records.append(try FeedRecord.parse(lines[i].bytes, into: &bytes))
                } catch {
                    failures[records.count] = error
                    records.append(nil)
                }
            }
            return Part(records: records, failures: failures, bytes: FeedBytes(bytes))
        }
        guard threads > 1 && count >= 256 else { return [part(0..<count)] }
        let parts = min(threads, 8)
        // Each thread parses a contiguous part.
        return inParallel(parts) { k in part((count * k / parts)..<(count * (k + 1) / parts)) }
    }

    /// `body(0)` to `body(count - 1)`, each on a thread of its own, kept in order once all are
    /// done: for work on a batch's parts, which share nothing.
    package static func inParallel<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
        let done = Mutex([T?](repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: count) { k in
            let result = body(k)
            done.withLock { $0[k] = result }
        }
        return done.withLock { $0.map { $0! } }
    }
}

/// The topics and payloads of a batch part's feed lines, and the readings decoded from them
/// ahead, read by the shards in place; the items of the batch hold it until the last of them
/// has run.
package final class FeedBytes: Sendable {
    package let bytes: [UInt8]
    package let readings: [Reading]
    /// Why payloads decoded ahead failed (`FeedPrefetch.Decoded.failed` indexes them): a key
    /// holds no text, so handing one on costs no reference counting.
    package let errors: [PayloadError]
    package init(_ bytes: [UInt8], readings: [Reading] = [], errors: [PayloadError] = []) {
        self.bytes = bytes
        self.readings = readings
        self.errors = errors
    }
}
