import BrokerHarness
import Foundation
import Logging
import Synchronization
import TelemetryCore
import Testing

@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

/// A history batch that fails (a full disk) must neither misfile a series nor be lost.
@Suite("History store under failed writes")
struct HistoryFailureTests {
    static let origin: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    static func series(_ sensor: String) -> SeriesID {
        SeriesID(park: "p1", zone: "z1", pillar: .emissions, kind: "pm25", sensor: sensor)
    }

    static func batch(_ sensor: String, rollups: Int, count: Int, summary: String? = nil) -> HistoryBatch {
        var batch = HistoryBatch()
        for k in 0..<rollups {
            batch.rollups.append(
                Rollup(
                    series: series(sensor), start: origin + Int64(k) * 300_000, count: count, sum: Double(count),
                    min: 1, max: 1, last: 1))
        }
        if let summary { batch.summaries = [("1h", origin, summary)] }
        batch.at = origin
        return batch
    }

    /// Each sensor's rollups as the reader files them: sensor → (rows, their counts).
    static func read(_ path: String) throws -> [String: (rows: Int, counts: Set<Int>)] {
        let reader = try HistoryReader(path: path, utcOffsetMinutes: 0)
        var found: [String: (rows: Int, counts: Set<Int>)] = [:]
        for r in try reader.rollups(matching: SeriesMatcher(), from: 0, to: .max, resolution: 0) {
            var entry = found[r.series.sensor] ?? (0, [])
            entry.rows += 1
            entry.counts.insert(r.count)
            found[r.series.sensor] = entry
        }
        return found
    }

    /// Before, the series table kept every name ever written: months of DevEUI churn, or a
    /// counter in a topic, grew it (and the store's id cache) without end.
    @Test(
        "series past the rollups' and records' retention leave the table and the cache; a name back gets a new id and its own rows"
    )
    func seriesPruned() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-series-prune")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("history.sqlite").path
        let store = try HistoryStore(path: path)
        let day: Int64 = 86_400_000
        var retention = HistoryRetention()
        retention.rollupsMilliseconds = 10 * day
        retention.complianceMilliseconds = 10 * day
        // 50 churned names on day 0, and a station that goes on reporting.
        var first = HistoryBatch()
        for k in 0..<50 {
            first.rollups.append(
                Rollup(series: Self.series("churn-\(k)"), start: Self.origin, count: 1, sum: 1, min: 1, max: 1, last: 1)
            )
        }
        first.at = Self.origin
        try store.write(first, retention: retention)
        #expect(try store.seriesCount == 50)
        // Day 20: the station's batch; the churned names are past retention, their rows pruned.
        var later = Self.batch("station", rollups: 1, count: 7)
        later.rollups[0].start = Self.origin + 20 * day
        later.at = Self.origin + 20 * day
        try store.write(later, retention: retention)
        #expect(try store.seriesCount == 1)
        // A churned name back: a new id (never a pruned one's), and only its own new row.
        var back = Self.batch("churn-3", rollups: 1, count: 5)
        back.rollups[0].start = Self.origin + 21 * day
        back.at = Self.origin + 21 * day
        try store.write(back, retention: retention)
        let ids = try store.database.prepare("SELECT id FROM series WHERE sensor = 'churn-3'")
        #expect(try ids.step())
        #expect(ids.int(0) > 51)
        let read = try Self.read(path)
        #expect(read["churn-3"]?.rows == 1 && read["churn-3"]?.counts == [5])
        #expect(read["station"]?.rows == 1 && read["station"]?.counts == [7])
        #expect(read.count == 2)
    }

    @Test("a batch that fills the disk rolls back without leaving its new series' id behind")
    func noMisfiling() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-failure")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("history.sqlite").path
        let store = try HistoryStore(path: path)
        try store.write(Self.batch("a", rollups: 1, count: 1), retention: HistoryRetention())
        // The disk is full: SQLite may not grow the file past the pages it has.
        let pages = try store.database.prepare("PRAGMA page_count")
        #expect(try pages.step())
        let full = pages.int(0)
        pages.reset()
        try store.database.execute("PRAGMA max_page_count = \(full)")
        // Series x is new: its row is inserted, then its 3 000 rollups do not fit.
        #expect(throws: SQLiteDatabase.Failure.self) {
            try store.write(Self.batch("x", rollups: 3000, count: 2), retention: HistoryRetention())
        }
        // Space again; a new series y comes first, then x's batch is written again.
        try store.database.execute("PRAGMA max_page_count = 1073741823")
        try store.write(Self.batch("y", rollups: 1, count: 7), retention: HistoryRetention())
        try store.write(Self.batch("x", rollups: 3000, count: 2), retention: HistoryRetention())
        let found = try Self.read(path)
        #expect(found["a"]?.rows == 1 && found["a"]?.counts == [1])
        #expect(found["y"]?.rows == 1 && found["y"]?.counts == [7], "y holds only its own rollup")
        #expect(found["x"]?.rows == 3000 && found["x"]?.counts == [2], "x's rollups are filed under x")
    }

    @Test("the writer keeps a batch that failed, outbox items included, and writes it once it can")
    func writerRetries() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-failure")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("history.sqlite").path
        let policy = OutboxPolicy(
            gateway: "g", kinds: [.rollups, .summaries], maxItems: 1000, maxAgeMilliseconds: 86_400_000)
        let writer = try HistoryWriter(
            path: path, retention: HistoryRetention(), logger: Logger(label: "test"), outbox: policy)
        // Another connection holds the write lock: every write fails (busy after SQLite's 5 s
        // wait), as it would on a full disk, until the lock goes.
        let other = try SQLiteDatabase(path: path)
        try other.execute("BEGIN IMMEDIATE")
        // Waits for the writer's own attempt, without making another (each waits out the lock).
        func settle() { writer.settle() }
        writer.submit(Self.batch("x", rollups: 3, count: 2, summary: #"{"period":"1h"}"#))
        settle()
        var status = writer.status
        #expect(status.error?.contains("locked") == true, "\(status.error ?? "")")
        #expect(status.written == 0 && status.dropped == 0 && status.pending == 4)
        // A second batch waits behind the first: order is kept.
        // What waits for the batches (the day's report) waits for the disk too.
        let reported = Mutex(false)
        writer.afterPending { reported.withLock { $0 = true } }
        writer.submit(Self.batch("y", rollups: 1, count: 7))
        settle()
        #expect(writer.status.written == 0)
        #expect(reported.withLock { $0 } == false, "ran before its batch was committed")
        try other.execute("ROLLBACK")
        writer.retry()
        writer.flush()
        status = writer.status
        #expect(status.error == nil)
        #expect(reported.withLock { $0 })
        #expect(status.written == 5 && status.dropped == 0 && status.pending == 0)
        let found = try Self.read(path)
        #expect(found["x"]?.rows == 3 && found["y"]?.rows == 1)
        // The outbox got the batches' items in their order: x's rollups, its summary, then y's.
        let outbox = try Outbox(path: path)
        let ids = try outbox.peek(limit: 10, maxBytes: 1 << 20).map(\.id)
        #expect(ids.count == 5)
        #expect(ids.last == "g/r/p1/z1/emissions/pm25/y/\(Self.origin)")
    }

    /// Before, a batch SQLite refused for what it is was retried forever, and every batch after
    /// it waited behind it: history stopped for good.
    @Test("a batch the store refuses for what it is (a constraint) is dropped and counted; the next batch is written")
    func permanentFailureDropped() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-permanent")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("history.sqlite").path
        let writer = try HistoryWriter(path: path, retention: HistoryRetention(), logger: Logger(label: "test"))
        let other = try SQLiteDatabase(path: path)
        try other.execute(
            """
            CREATE TRIGGER refuse BEFORE INSERT ON summaries WHEN NEW.line LIKE '%poison%'
            BEGIN SELECT RAISE(ABORT, 'refused (simulated constraint)'); END;
            """)
        writer.submit(Self.batch("x", rollups: 3, count: 2, summary: #"{"period":"1h","poison":1}"#))
        writer.submit(Self.batch("y", rollups: 1, count: 7))
        writer.flush()
        let status = writer.status
        #expect(status.written == 1 && status.dropped == 4 && status.pending == 0, "\(status)")
        let found = try Self.read(path)
        #expect(found["x"] == nil && found["y"]?.rows == 1)
    }

    @Test(
        "a real full disk (a small tmpfs): the batches wait, and once there is room every rollup and outbox item is there once, under its own series",
        .enabled(if: SmallFilesystem.available))
    func realDiskFull() throws {
        let disk = try SmallFilesystem(bytes: 4 << 20)
        let path = disk.path + "/history.sqlite"
        let policy = OutboxPolicy(gateway: "g", kinds: [.rollups], maxItems: 100_000, maxAgeMilliseconds: 86_400_000)
        let writer = try HistoryWriter(
            path: path, retention: HistoryRetention(), logger: Logger(label: "test"), outbox: policy)
        writer.submit(Self.batch("a", rollups: 10, count: 1))
        writer.flush()
        // Fill what is left, then three new series' batches: each too big for the room there is.
        let filler = disk.path + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: filler))
        let chunk = Data(count: 64 << 10)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()
        for (sensor, count) in [("x", 2), ("y", 3), ("z", 4)] {
            writer.submit(Self.batch(sensor, rollups: 2_000, count: count))
        }
        writer.settle()
        let blocked = writer.status
        #expect(blocked.error != nil && blocked.written == 10 && blocked.dropped == 0, "\(blocked)")
        try FileManager.default.removeItem(atPath: filler)
        writer.retry()
        writer.flush()
        let status = writer.status
        #expect(status.error == nil && status.written == 6_010 && status.pending == 0, "\(status)")
        let found = try Self.read(path)
        #expect(found["a"]?.rows == 10 && found["a"]?.counts == [1])
        #expect(found["x"]?.rows == 2_000 && found["x"]?.counts == [2])
        #expect(found["y"]?.rows == 2_000 && found["y"]?.counts == [3])
        #expect(found["z"]?.rows == 2_000 && found["z"]?.counts == [4])
        let outbox = try Outbox(path: path)
        let items = try outbox.peek(limit: 10_000, maxBytes: 64 << 20)
        #expect(items.count == 6_010 && Set(items.map(\.id)).count == 6_010)
    }
}
