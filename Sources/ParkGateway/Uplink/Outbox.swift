import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// The sending side of the uplink's outbox: a connection of its own to the history store
/// (SQLite's WAL lets it read and delete while the history writer appends).
package final class Outbox {
    package struct Entry {
        package var seq: Int64
        package var kind: String
        package var id: String
        package var at: Int64
        package var body: String
        package var attempts: Int64
    }

    private let database: SQLiteDatabase
    private let peekStatement: SQLiteDatabase.Statement
    private let markStatement: SQLiteDatabase.Statement
    private let removeStatement: SQLiteDatabase.Statement
    private let depthStatement: SQLiteDatabase.Statement

    package init(path: String) throws(SQLiteDatabase.Failure) {
        database = try SQLiteDatabase(path: path)
        // Creates the table when the writer has not opened the file yet.
        try HistoryStore.migrate(database)
        peekStatement = try database.prepare(
            "SELECT seq, kind, id, at_ms, body, attempts FROM outbox ORDER BY seq LIMIT ?")
        markStatement = try database.prepare("UPDATE outbox SET attempts = attempts + 1 WHERE seq BETWEEN ? AND ?")
        removeStatement = try database.prepare("DELETE FROM outbox WHERE seq <= ?")
        depthStatement = try database.prepare("SELECT count(*), min(created_ms) FROM outbox")
    }

    /// The oldest items, in order: at most `limit`, and no more than about `maxBytes` of
    /// bodies (at least one item, however large).
    package func peek(limit: Int, maxBytes: Int) throws(SQLiteDatabase.Failure) -> [Entry] {
        peekStatement.bind(1, Int64(limit))
        defer { peekStatement.reset() }
        var entries: [Entry] = []
        var bytes = 0
        while try peekStatement.step() {
            let body = peekStatement.text(4)
            if !entries.isEmpty && bytes + body.utf8.count > maxBytes { break }
            bytes += body.utf8.count
            entries.append(
                Entry(
                    seq: peekStatement.int(0), kind: peekStatement.text(1), id: peekStatement.text(2),
                    at: peekStatement.int(3), body: body, attempts: peekStatement.int(5)))
        }
        return entries
    }

    /// Notes that the items from `first` through `last` were handed to the connection.
    package func markSent(from first: Int64, through last: Int64) throws(SQLiteDatabase.Failure) {
        markStatement.bind(1, first)
        markStatement.bind(2, last)
        try markStatement.run()
    }

    /// Removes every item up to `seq`: acknowledged by the province's broker.
    package func remove(through seq: Int64) throws(SQLiteDatabase.Failure) {
        removeStatement.bind(1, seq)
        try removeStatement.run()
    }

    /// Items waiting, and when the oldest was queued.
    package func depth() throws(SQLiteDatabase.Failure) -> (items: Int, oldestCreated: Int64?) {
        defer { depthStatement.reset() }
        guard try depthStatement.step() else { return (0, nil) }
        let count = Int(depthStatement.int(0))
        return (count, count > 0 ? depthStatement.int(1) : nil)
    }

    /// One MQTT message: the gateway's name and the items. An entry whose stored kind or
    /// body no longer reads (a store edited by hand) is left out and named in `skipped`.
    package static func message(gateway: String, entries: [Entry]) -> (payload: [UInt8], skipped: [String]) {
        var items: [UplinkBatch.Item] = []
        var skipped: [String] = []
        let decoder = JSONDecoder()
        for entry in entries {
            guard let kind = UplinkItemKind(rawValue: entry.kind),
                let body = try? decoder.decode(JSONBody.self, from: Data(entry.body.utf8))
            else {
                skipped.append(entry.id)
                continue
            }
            items.append(UplinkBatch.Item(seq: entry.seq, kind: kind, id: entry.id, at: entry.at, body: body))
        }
        return (UplinkBatch(gateway: gateway, items: items).encoded(), skipped)
    }
}
