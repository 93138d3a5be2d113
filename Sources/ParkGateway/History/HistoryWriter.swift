import Dispatch
import Foundation
import Logging
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// Writes history batches on a thread of its own: ingest never waits for the disk. A batch
/// is one transaction (one summary interval's rollups, records and lines, with the alerts
/// since the last one), so a crash loses at most the batches not yet committed. Past
/// `maxPendingRows` waiting (a disk far too slow), new batches are dropped and counted.
package final class HistoryWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "parkd.history")
    private let store: HistoryStore
    private let retention: HistoryRetention
    private let logger: Logger
    private let lock = NSLock()
    private var alerts: [(at: Int64, line: String)] = []
    private var pendingRows = 0
    private(set) var written = 0
    private(set) var dropped = 0
    private(set) var lastError: String?
    /// Time spent in transactions, for the insert rate.
    private(set) var seconds = 0.0
    package let maxPendingRows: Int
    package let path: String
    /// With an uplink: its items go to the outbox with each batch, and `onQueued` is called
    /// on the writer's thread after a batch queued some.
    private let outbox: OutboxPolicy?
    private let onQueued: (@Sendable () -> Void)?
    /// Outbox items removed to hold its bounds (oldest first).
    private var outboxDropped = 0

    package init(
        path: String, retention: HistoryRetention, logger: Logger, maxPendingRows: Int = 2_000_000,
        outbox: OutboxPolicy? = nil, onQueued: (@Sendable () -> Void)? = nil
    ) throws(SQLiteDatabase.Failure) {
        store = try HistoryStore(path: path)
        self.path = path
        self.retention = retention
        self.logger = logger
        self.maxPendingRows = maxPendingRows
        self.outbox = outbox
        self.onQueued = onQueued
    }

    /// The store a configuration names, or nil (logged) when it cannot be opened: parkd runs
    /// on without history rather than not at all. `parkd run` with an uplink passes its
    /// outbox policy; a replay writes no outbox.
    static func open(
        path: String, configuration: DaemonConfiguration, logger: Logger, outbox: OutboxPolicy? = nil,
        onQueued: (@Sendable () -> Void)? = nil
    ) -> HistoryWriter? {
        do {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            let writer = try HistoryWriter(
                path: path, retention: configuration.history.retention, logger: logger, outbox: outbox,
                onQueued: onQueued)
            logger.info(
                "history store \(path): rollups every \(TimeText.format(Double(configuration.history.resolutionMilliseconds) / 1000))"
            )
            return writer
        } catch {
            logger.error("history store \(path) cannot be opened (\(error)); running without history")
            return nil
        }
    }

    /// Alert lines go with the next batch.
    package func add(alerts lines: [(at: Int64, line: String)]) {
        guard !lines.isEmpty else { return }
        lock.lock()
        alerts += lines
        lock.unlock()
    }

    package func submit(_ batch: HistoryBatch) {
        var batch = batch
        lock.lock()
        batch.alerts += alerts
        alerts.removeAll()
        let rows = batch.rows
        guard pendingRows + rows <= maxPendingRows else {
            dropped += rows
            let total = dropped
            lock.unlock()
            logger.error("history writer \(pendingRows) rows behind: dropped a batch of \(rows) rows (\(total) so far)")
            return
        }
        pendingRows += rows
        lock.unlock()
        queue.async { [self, batch] in
            let started = ContinuousClock.now
            var failure: String?
            var queued = 0
            do {
                let result = try store.write(
                    batch, retention: retention, outbox: outbox, now: WallClock.now().milliseconds)
                queued = result.queued
                if result.dropped > 0 {
                    lock.lock()
                    outboxDropped += result.dropped
                    let total = outboxDropped
                    lock.unlock()
                    logger.warning(
                        "uplink outbox full (uplink.max_items or max_age): dropped the \(result.dropped) oldest items (\(total) so far)"
                    )
                }
            } catch {
                failure = "\(error)"
            }
            if queued > 0 { onQueued?() }
            let elapsed = ContinuousClock.now - started
            lock.lock()
            pendingRows -= rows
            seconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if let failure {
                dropped += rows
                if lastError == nil { logger.error("history store \(path): \(failure); the batch is lost") }
                lastError = failure
            } else {
                written += rows
                if lastError != nil { logger.notice("history store \(path) writes again") }
                lastError = nil
            }
            lock.unlock()
        }
    }

    /// Runs `body` on the writer's thread once every batch submitted so far is committed.
    package func afterPending(_ body: @escaping @Sendable () -> Void) { queue.async(execute: body) }

    /// Waits until every submitted batch is written.
    package func flush() { queue.sync {} }

    package var status: (written: Int, pending: Int, dropped: Int, error: String?, seconds: Double, outboxDropped: Int)
    {
        lock.lock()
        defer { lock.unlock() }
        return (written, pendingRows, dropped, lastError, seconds, outboxDropped)
    }
}
