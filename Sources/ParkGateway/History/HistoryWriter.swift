import Dispatch
import Foundation
import Logging
import ParkConfig
import ParkIngest
import Synchronization
import TelemetryCore
import UplinkWire

/// Writes history batches on a thread of its own: ingest never waits for the disk. A batch
/// is one transaction (one summary interval's rollups, records and lines, with the alerts
/// since the last one), so a crash loses at most the batches not yet committed. Past
/// `maxPendingRows` waiting (a disk far too slow), new batches are dropped and counted.
///
/// `@unchecked Sendable`: `store` wraps SQLite's C handle, which is used only on `queue`, as
/// is `waiting`; everything else the threads share is in `shared`.
package final class HistoryWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "parkd.history")
    private let store: HistoryStore
    private let retention: HistoryRetention
    private let logger: Logger
    private struct Shared {
        var alerts: [(at: Int64, line: String)] = []
        var pendingRows = 0
        var written = 0
        var dropped = 0
        var lastError: String?
        /// Time spent in transactions, for the insert rate.
        var seconds = 0.0
        /// Outbox items removed to hold its bounds (oldest first).
        var outboxDropped = 0
    }
    private let shared = Mutex(Shared())
    /// Batches not yet committed, oldest first (on `queue` only).
    private var waiting: [HistoryBatch] = []
    /// What waits for every batch submitted before it to be committed (on `queue` only).
    private var afterCommit: [@Sendable () -> Void] = []
    package let maxPendingRows: Int
    package let path: String
    /// With an uplink: its items go to the outbox with each batch, and `onQueued` is called
    /// on the writer's thread after a batch queued some.
    private let outbox: OutboxPolicy?
    private let onQueued: (@Sendable () -> Void)?

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
        shared.withLock { $0.alerts += lines }
    }

    package func submit(_ batch: HistoryBatch) {
        var batch = batch
        let maxPendingRows = maxPendingRows
        let refused = shared.withLock { (shared) -> (behind: Int, total: Int)? in
            batch.alerts += shared.alerts
            shared.alerts.removeAll()
            guard shared.pendingRows + batch.rows <= maxPendingRows else {
                shared.dropped += batch.rows
                return (shared.pendingRows, shared.dropped)
            }
            shared.pendingRows += batch.rows
            return nil
        }
        let rows = batch.rows
        if let refused {
            logger.error(
                "history writer \(refused.behind) rows behind: dropped a batch of \(rows) rows (\(refused.total) so far)"
            )
            return
        }
        queue.async { [self, batch] in
            waiting.append(batch)
            drain()
        }
    }

    /// Tries the batches a failed write left waiting (a full disk, a locked file) again, in
    /// order; called each second by the summary loop. A batch is dropped past
    /// `maxPendingRows`, or when SQLite refuses it for what it is (a constraint, a value too
    /// big: it would fail the same way every time and hold every later batch behind it).
    package func retry() {
        queue.async { [self] in
            if !waiting.isEmpty { drain() }
        }
    }

    /// On `queue`: writes the waiting batches oldest first, stopping at the first that fails
    /// (it stays first in line, outbox items included, so order is kept).
    private func drain() {
        while let batch = waiting.first {
            let started = ContinuousClock.now
            var failure: String?
            var permanent = false
            var queued = 0
            do {
                let result = try store.write(
                    batch, retention: retention, outbox: outbox, now: WallClock.now().milliseconds)
                queued = result.queued
                if result.dropped > 0 {
                    let total = shared.withLock { (shared) -> Int in
                        shared.outboxDropped += result.dropped
                        return shared.outboxDropped
                    }
                    logger.warning(
                        "uplink outbox full (uplink.max_items or max_age): dropped the \(result.dropped) oldest items (\(total) so far)"
                    )
                }
            } catch {
                failure = "\(error)"
                permanent = !error.isTransient
            }
            if queued > 0 { onQueued?() }
            let elapsed = ContinuousClock.now - started
            let rows = batch.rows
            let waitingRows = waiting.reduce(0) { $0 + $1.rows }
            let before = shared.withLock { (shared) -> String? in
                let before = shared.lastError
                shared.seconds += elapsed.inSeconds
                if let failure, permanent {
                    shared.pendingRows -= rows
                    shared.dropped += rows
                    shared.lastError = "\(failure); a batch of \(rows) rows dropped"
                } else if let failure {
                    shared.lastError = "\(failure); \(waitingRows) rows wait for the next attempt"
                } else {
                    shared.pendingRows -= rows
                    shared.written += rows
                    shared.lastError = nil
                }
                return before
            }
            if let failure, permanent {
                // Counted (parkd_history_rows_dropped_total) and logged each time: it is data lost.
                logger.error(
                    "history store \(path): \(failure); the store refuses this batch of \(rows) rows for what it is, so it is dropped (the batches after it go on)"
                )
                waiting.removeFirst()
                continue
            }
            if let failure {
                if before == nil {
                    logger.error("history store \(path): \(failure); the batch waits and is tried again each second")
                }
                return
            }
            waiting.removeFirst()
            if before != nil { logger.notice("history store \(path) writes again") }
        }
        let ready = afterCommit
        afterCommit.removeAll()
        for body in ready { body() }
    }

    /// Runs `body` on the writer's thread once every batch submitted so far is committed (or
    /// dropped): while a failed batch waits for the disk, so does `body`.
    package func afterPending(_ body: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            if waiting.isEmpty { body() } else { afterCommit.append(body) }
        }
    }

    /// Waits for the writer's thread to finish what it was given (an attempt that fails
    /// included), without another attempt.
    package func settle() { queue.sync {} }

    /// Waits until every submitted batch is written, or has failed once more (at shutdown:
    /// what still cannot be written is logged as lost).
    package func flush() {
        queue.sync {
            if !waiting.isEmpty { drain() }
            if !waiting.isEmpty {
                let rows = waiting.reduce(0) { $0 + $1.rows }
                logger.error("history store \(path): \(rows) rows could not be written and are lost")
            }
        }
    }

    package var status: (written: Int, pending: Int, dropped: Int, error: String?, seconds: Double, outboxDropped: Int)
    {
        shared.withLock { ($0.written, $0.pendingRows, $0.dropped, $0.lastError, $0.seconds, $0.outboxDropped) }
    }
}
