import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// What one batch adds to the history: rollups closed, compliance records, alert and summary
/// lines since the last batch.
package struct HistoryBatch: Sendable {
    package var rollups: [Rollup] = []
    package var compliance: [(record: ComplianceRecord, line: String)] = []
    package var alerts: [(at: Int64, line: String)] = []
    package var summaries: [(period: String, from: Int64, line: String)] = []
    /// The batch's time (the summary boundary): retention is measured back from it.
    package var at: Int64 = 0

    package var rows: Int { rollups.count + compliance.count + alerts.count + summaries.count }
}

/// The gateway's history in one SQLite file (WAL): per-series rollups, compliance records,
/// alerts and summaries. Written by one writer, read by any number of readers. Rows are keyed
/// so that writing a batch twice (a replay over an existing store) changes nothing.
package final class HistoryStore {
    package static let schemaVersion = 3
    /// Series ids the writer keeps in memory at most.
    package static let maxCachedSeries = 20_000
    package let database: SQLiteDatabase
    private var seriesIDs: [SeriesID: Int64] = [:]
    private let insertSeries: SQLiteDatabase.Statement
    private let findSeries: SQLiteDatabase.Statement
    private let insertRollup: SQLiteDatabase.Statement
    private let insertCompliance: SQLiteDatabase.Statement
    private let insertAlert: SQLiteDatabase.Statement
    private let insertSummary: SQLiteDatabase.Statement
    private let insertOutbox: SQLiteDatabase.Statement
    private let touchRollups: SQLiteDatabase.Statement
    private let touchCompliance: SQLiteDatabase.Statement
    /// Rows pruning removes per table per batch: pruning never holds the writer for long.
    package let pruneChunk: Int

    package init(path: String, pruneChunk: Int = 20_000) throws(SQLiteDatabase.Failure) {
        self.pruneChunk = pruneChunk
        database = try SQLiteDatabase(path: path)
        try database.execute("PRAGMA journal_mode=WAL")
        // NORMAL in WAL mode: a committed batch survives a crash of parkd; a power cut may
        // lose the last batches, never corrupt the file.
        try database.execute("PRAGMA synchronous=NORMAL")
        try Self.migrate(database)
        insertSeries = try database.prepare(
            "INSERT OR IGNORE INTO series(park, zone, pillar, kind, sensor) VALUES (?, ?, ?, ?, ?)")
        findSeries = try database.prepare(
            "SELECT id FROM series WHERE park = ? AND zone = ? AND pillar = ? AND kind = ? AND sensor = ?")
        insertRollup = try database.prepare(
            """
            INSERT OR REPLACE INTO rollups(start_ms, series, count, mean, min, max, last, leq, increase)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        insertCompliance = try database.prepare(
            """
            INSERT INTO compliance(start_ms, rule, series, period, end_ms, value, limit_value, valid,
              exceeded, capture, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(start_ms, rule, series, period) DO UPDATE SET end_ms = excluded.end_ms,
              value = excluded.value, limit_value = excluded.limit_value, valid = excluded.valid,
              exceeded = excluded.exceeded, capture = excluded.capture, line = excluded.line
            WHERE coalesce(json_extract(excluded.line, '$.revision'), 0)
              >= coalesce(json_extract(compliance.line, '$.revision'), 0)
            """)
        insertAlert = try database.prepare("INSERT OR IGNORE INTO alerts(at_ms, line) VALUES (?, ?)")
        insertSummary = try database.prepare(
            "INSERT OR REPLACE INTO summaries(period, from_ms, line) VALUES (?, ?, ?)")
        insertOutbox = try database.prepare(
            "INSERT INTO outbox(kind, id, at_ms, created_ms, body) VALUES (?, ?, ?, ?, ?)")
        touchRollups = try database.prepare(
            "UPDATE series SET last_rollup_ms = max(last_rollup_ms, ?) WHERE id = ?")
        touchCompliance = try database.prepare(
            "UPDATE series SET last_compliance_ms = max(last_compliance_ms, ?) WHERE id = ?")
    }

    /// Creates the tables, or checks that the file is one this version reads.
    package static func migrate(_ database: SQLiteDatabase) throws(SQLiteDatabase.Failure) {
        let version = try database.prepare("PRAGMA user_version")
        _ = try version.step()
        let found = version.int(0)
        guard found <= schemaVersion else {
            throw .init(
                message:
                    "\(database.path) has history schema \(found), newer than this parkd reads (\(schemaVersion))")
        }
        if found < 1 { try createVersion1(database) }
        if found < 2 {
            // Version 2: the uplink's outbox. `seq` orders the items (AUTOINCREMENT: a number
            // is never reused, even after the newest items were removed).
            try database.transaction { () throws(SQLiteDatabase.Failure) in
                try database.execute(
                    """
                    CREATE TABLE IF NOT EXISTS outbox(
                      seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, id TEXT NOT NULL,
                      at_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, body TEXT NOT NULL,
                      attempts INTEGER NOT NULL DEFAULT 0);
                    PRAGMA user_version = 2;
                    """)
            }
        }
        if found < 3 {
            // Version 3: when each series last had a rollup and a compliance record, so that a
            // series past both retentions leaves the table (names churn; the table must not
            // keep every one ever seen). Series already there count as written now.
            try database.transaction { () throws(SQLiteDatabase.Failure) in
                try database.execute(
                    """
                    ALTER TABLE series ADD COLUMN last_rollup_ms INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE series ADD COLUMN last_compliance_ms INTEGER NOT NULL DEFAULT 0;
                    UPDATE series SET last_rollup_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000,
                      last_compliance_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
                    PRAGMA user_version = 3;
                    """)
            }
        }
    }

    private static func createVersion1(_ database: SQLiteDatabase) throws(SQLiteDatabase.Failure) {
        try database.transaction { () throws(SQLiteDatabase.Failure) in
            try database.execute(
                """
                CREATE TABLE IF NOT EXISTS series(
                  id INTEGER PRIMARY KEY, park TEXT NOT NULL, zone TEXT NOT NULL, pillar TEXT NOT NULL,
                  kind TEXT NOT NULL, sensor TEXT NOT NULL, UNIQUE(park, zone, pillar, kind, sensor));
                CREATE TABLE IF NOT EXISTS rollups(
                  start_ms INTEGER NOT NULL, series INTEGER NOT NULL, count INTEGER NOT NULL, mean REAL,
                  min REAL, max REAL, last REAL, leq REAL, increase REAL,
                  PRIMARY KEY(start_ms, series)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS compliance(
                  start_ms INTEGER NOT NULL, rule TEXT NOT NULL, series INTEGER NOT NULL, period TEXT NOT NULL,
                  end_ms INTEGER NOT NULL, value REAL, limit_value REAL, valid INTEGER, exceeded INTEGER,
                  capture REAL, line TEXT NOT NULL, PRIMARY KEY(start_ms, rule, series, period)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS alerts(at_ms INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY(at_ms, line));
                CREATE TABLE IF NOT EXISTS summaries(
                  period TEXT NOT NULL, from_ms INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY(from_ms, period));
                PRAGMA user_version = 1;
                """)
        }
    }

    private func id(of series: SeriesID) throws(SQLiteDatabase.Failure) -> Int64 {
        if let known = seriesIDs[series] { return known }
        for statement in [insertSeries, findSeries] {
            statement.bind(1, series.park)
            statement.bind(2, series.zone)
            statement.bind(3, series.pillar.rawValue)
            statement.bind(4, series.kind)
            statement.bind(5, series.sensor)
        }
        try insertSeries.run()
        defer { findSeries.reset() }
        guard try findSeries.step() else { throw .init(message: "series \(series) vanished from \(database.path)") }
        let id = findSeries.int(0)
        // A cache, not a record of every name: past this many it starts afresh (the ids stay in
        // the table, found through its unique index), so name churn cannot grow it for good.
        if seriesIDs.count >= Self.maxCachedSeries { seriesIDs.removeAll() }
        seriesIDs[series] = id
        return id
    }

    /// Writes one batch in one transaction, then prunes a chunk of what is past retention.
    /// With an outbox policy, the batch's uplink items are queued in the same transaction (the
    /// province gets exactly what the gateway kept), and the outbox is held to its bounds: the
    /// oldest items beyond them are removed, and their number returned.
    @discardableResult
    package func write(_ batch: HistoryBatch, retention: HistoryRetention, outbox: OutboxPolicy? = nil, now: Int64 = 0)
        throws(SQLiteDatabase.Failure) -> (queued: Int, dropped: Int)
    {
        var queued = 0
        var dropped = 0
        // Series ids learnt inside a transaction that rolls back are not in the file: SQLite
        // hands the same rowid to the next new series. Forget them with the transaction, or
        // one series' rows would later be filed under another's id.
        let known = seriesIDs
        do throws(SQLiteDatabase.Failure) {
            try writeRows(batch, retention: retention, outbox: outbox, now: now, queued: &queued, dropped: &dropped)
        } catch {
            seriesIDs = known
            throw error
        }
        return (queued, dropped)
    }

    private func writeRows(
        _ batch: HistoryBatch, retention: HistoryRetention, outbox: OutboxPolicy?, now: Int64, queued: inout Int,
        dropped: inout Int
    ) throws(SQLiteDatabase.Failure) {
        try database.transaction { () throws(SQLiteDatabase.Failure) in
            if let outbox {
                for item in UplinkItem.items(from: batch, gateway: outbox.gateway, kinds: outbox.kinds) {
                    insertOutbox.bind(1, item.kind.rawValue)
                    insertOutbox.bind(2, item.id)
                    insertOutbox.bind(3, item.at)
                    insertOutbox.bind(4, now)
                    insertOutbox.bind(5, item.body)
                    try insertOutbox.run()
                    queued += 1
                }
                dropped = try bound(outbox, now: now)
            }
            var lastRollup: [Int64: Int64] = [:]
            var lastCompliance: [Int64: Int64] = [:]
            for r in batch.rollups {
                let series = try id(of: r.series)
                lastRollup[series] = max(lastRollup[series] ?? .min, r.start)
                insertRollup.bind(1, r.start)
                insertRollup.bind(2, series)
                insertRollup.bind(3, Int64(r.count))
                insertRollup.bind(4, r.mean)
                insertRollup.bind(5, r.min)
                insertRollup.bind(6, r.max)
                insertRollup.bind(7, r.last)
                insertRollup.bind(8, r.leq)
                insertRollup.bind(9, r.increase)
                try insertRollup.run()
            }
            for (record, line) in batch.compliance {
                insertCompliance.bind(1, record.closed.start.milliseconds)
                insertCompliance.bind(2, record.rule)
                let series = try id(of: record.series)
                lastCompliance[series] = max(lastCompliance[series] ?? .min, record.closed.start.milliseconds)
                insertCompliance.bind(3, series)
                insertCompliance.bind(4, record.closed.period.rawValue)
                insertCompliance.bind(5, record.closed.end.milliseconds)
                insertCompliance.bind(6, record.closed.value)
                insertCompliance.bind(7, record.limit)
                insertCompliance.bind(8, record.closed.valid ? 1 : 0)
                insertCompliance.bind(9, record.exceeded ? 1 : 0)
                insertCompliance.bind(10, record.closed.capture)
                insertCompliance.bind(11, line)
                try insertCompliance.run()
            }
            for (statement, latest) in [(touchRollups, lastRollup), (touchCompliance, lastCompliance)] {
                for (series, at) in latest {
                    statement.bind(1, at)
                    statement.bind(2, series)
                    try statement.run()
                }
            }
            for (at, line) in batch.alerts {
                insertAlert.bind(1, at)
                insertAlert.bind(2, line)
                try insertAlert.run()
            }
            for (period, from, line) in batch.summaries {
                insertSummary.bind(1, period)
                insertSummary.bind(2, from)
                insertSummary.bind(3, line)
                try insertSummary.run()
            }
            try prune(at: batch.at, retention: retention)
        }
    }

    /// Removes the oldest outbox items beyond `maxItems` or older than `maxAge`.
    private func bound(_ policy: OutboxPolicy, now: Int64) throws(SQLiteDatabase.Failure) -> Int {
        let old = try database.prepare("DELETE FROM outbox WHERE created_ms < ?")
        old.bind(1, now &- policy.maxAgeMilliseconds)
        try old.run()
        var removed = database.changes
        let excess = try database.prepare(
            "DELETE FROM outbox WHERE seq <= (SELECT max(seq) FROM outbox) - ?")
        excess.bind(1, Int64(policy.maxItems))
        try excess.run()
        removed += database.changes
        return removed
    }

    /// Deletes at most `pruneChunk` rows per table older than its retention: the oldest first.
    private func prune(at now: Int64, retention: HistoryRetention) throws(SQLiteDatabase.Failure) {
        for (table, column, keep) in [
            ("rollups", "start_ms", retention.rollupsMilliseconds),
            ("compliance", "start_ms", retention.complianceMilliseconds),
            ("alerts", "at_ms", retention.alertsMilliseconds),
            ("summaries", "from_ms", retention.summariesMilliseconds),
        ] {
            let cutoff = now &- keep
            // The cutoff of this chunk: the time of the row `pruneChunk` rows in, or the retention cutoff.
            let probe = try database.prepare(
                "SELECT \(column) FROM \(table) WHERE \(column) < ? ORDER BY \(column) LIMIT 1 OFFSET \(pruneChunk)")
            probe.bind(1, cutoff)
            guard try probe.step() else {
                let delete = try database.prepare("DELETE FROM \(table) WHERE \(column) < ?")
                delete.bind(1, cutoff)
                try delete.run()
                continue
            }
            // More than a chunk is due: delete up to the chunk's time, or at least the oldest
            // time's rows (when more rows than a chunk share it), so pruning always advances.
            let chunk = probe.int(0)
            let oldest = try database.prepare("SELECT min(\(column)) FROM \(table)")
            _ = try oldest.step()
            let delete = try database.prepare(
                chunk > oldest.int(0)
                    ? "DELETE FROM \(table) WHERE \(column) < ?" : "DELETE FROM \(table) WHERE \(column) <= ?")
            delete.bind(1, chunk)
            try delete.run()
        }
        // Series past both retentions go, and leave the id cache. The newest id stays whatever
        // its age: SQLite gives a new row the largest id plus one, so no id is ever reused, and
        // rows of a pruned series still waiting for their chunk can never be read as another's.
        let series = try database.prepare(
            """
            DELETE FROM series WHERE last_rollup_ms < ? AND last_compliance_ms < ?
              AND id < (SELECT max(id) FROM series) RETURNING park, zone, pillar, kind, sensor
            """)
        series.bind(1, now &- retention.rollupsMilliseconds)
        series.bind(2, now &- retention.complianceMilliseconds)
        while try series.step() {
            guard let pillar = Pillar(rawValue: series.text(2)) else { continue }
            seriesIDs[
                SeriesID(
                    park: series.text(0), zone: series.text(1), pillar: pillar, kind: series.text(3),
                    sensor: series.text(4))] = nil
        }
    }

    /// Series the store knows (the table's rows).
    package var seriesCount: Int {
        get throws(SQLiteDatabase.Failure) {
            let count = try database.prepare("SELECT count(*) FROM series")
            _ = try count.step()
            return Int(count.int(0))
        }
    }
}
