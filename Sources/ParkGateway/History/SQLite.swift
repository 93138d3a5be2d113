import CSQLite
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// A thin layer over SQLite's C API: one connection, prepared statements, transactions.
/// Not thread-safe: each user holds its own connection (SQLite's WAL lets readers and one
/// writer work at once).
package final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?
    package let path: String

    package struct Failure: Error, CustomStringConvertible {
        package let message: String
        /// SQLite's primary result code (0 when the failure is not SQLite's own).
        package var code: Int32 = 0
        package var description: String { message }

        package init(message: String, code: Int32 = 0) {
            self.message = message
            self.code = code
        }

        /// Whether the failure is the store's, not the batch's own. Only a constraint, a value
        /// too big or of the wrong type fails the same batch the same way every time; anything
        /// else (a full disk, a lock, an I/O error, a corrupt file, a failure not SQLite's) may
        /// pass, and the batch waits for it rather than be lost.
        package var isTransient: Bool {
            ![SQLITE_CONSTRAINT, SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE].contains(code)
        }
    }

    /// The primary result code of the connection's last failure.
    var lastCode: Int32 { sqlite3_errcode(handle) & 0xff }

    package init(path: String, readOnly: Bool = false) throws(Failure) {
        self.path = path
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let status = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw Failure(message: "cannot open \(path): \(message)")
        }
        // A reader waits for a writer's checkpoint rather than failing at once.
        sqlite3_busy_timeout(handle, 5000)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Rows changed by the last statement.
    package var changes: Int { Int(sqlite3_changes(handle)) }

    package var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    package func execute(_ sql: String) throws(Failure) {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &error)
        guard status == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? lastError
            sqlite3_free(error)
            throw Failure(message: "\(path): \(message) (in: \(sql.prefix(80)))", code: status & 0xff)
        }
    }

    package func prepare(_ sql: String) throws(Failure) -> Statement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(message: "\(path): \(lastError) (in: \(sql.prefix(80)))", code: lastCode)
        }
        return Statement(statement, database: self)
    }

    /// Runs `body` in one transaction: all of it is written, or none.
    package func transaction(_ body: () throws(Failure) -> Void) throws(Failure) {
        try execute("BEGIN IMMEDIATE")
        do {
            try body()
            try execute("COMMIT")
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    package final class Statement {
        private let statement: OpaquePointer
        private unowned let database: SQLiteDatabase

        package init(_ statement: OpaquePointer, database: SQLiteDatabase) {
            self.statement = statement
            self.database = database
        }

        deinit { sqlite3_finalize(statement) }

        package func reset() {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }

        package func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(statement, index, value) }
        package func bind(_ index: Int32, _ value: Double?) {
            if let value, value.isFinite {
                sqlite3_bind_double(statement, index, value)
            } else {
                sqlite3_bind_null(statement, index)
            }
        }
        package func bind(_ index: Int32, _ value: String?) {
            guard let value else {
                sqlite3_bind_null(statement, index)
                return
            }
            // SQLITE_TRANSIENT: SQLite copies the text before the Swift string goes.
            sqlite3_bind_text(statement, index, value, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }

        /// Steps once: true while there is a row.
        package func step() throws(Failure) -> Bool {
            let status = sqlite3_step(statement)
            switch status {
            case SQLITE_ROW: return true
            case SQLITE_DONE: return false
            default: throw Failure(message: "\(database.path): \(database.lastError)", code: status & 0xff)
            }
        }

        /// Runs a statement that returns no rows, then resets it for the next use.
        package func run() throws(Failure) {
            defer { reset() }
            _ = try step()
        }

        package func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
        package func double(_ column: Int32) -> Double? {
            sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_double(statement, column)
        }
        package func text(_ column: Int32) -> String {
            sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
        }
    }
}
