import CPostgres
import Foundation
import ParkConfig
import TelemetryCore
import UplinkWire

/// A thin layer over libpq: one connection, text parameters, transactions. Not thread-safe:
/// each central session holds its own connection.
package final class PostgresConnection {
    package struct Failure: Error, CustomStringConvertible {
        package let message: String
        /// The SQLSTATE, when the server answered (nil: the connection itself failed).
        package let sqlState: String?
        package var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
        /// Bad data in an item (class 22, data exception; 23, integrity): retrying cannot help.
        package var isDataError: Bool { sqlState.map { $0.hasPrefix("22") || $0.hasPrefix("23") } ?? false }
        /// Worth trying again: the connection (no answer, class 08), a serialization failure or
        /// deadlock (40001, 40P01), the server short of resources (class 53: too many
        /// connections, disk full), shutting down or starting (57P01–57P03), a statement cut
        /// by `statement_timeout` (57014). Anything else (a value too large for an index, a
        /// malformed figure) fails the same way every time: the batch is dead-lettered.
        package var isTransient: Bool {
            guard let state = sqlState else { return true }
            // What the batch is decides these: a cardinality violation (21), bad data (22),
            // integrity (23), a value past a limit (54). Anything else (a read-only standby,
            // revoked grants, a lock timeout, I/O) is the server's state: held and retried,
            // never acknowledged as poison.
            return !["21", "22", "23", "54"].contains(String(state.prefix(2)))
        }
    }

    package struct Outcome {
        package var rows: [[String?]] = []
        /// Rows inserted, updated or deleted.
        package var affected = 0
    }

    package let conninfo: String
    private var connection: OpaquePointer?

    /// What a statement may take before the server cancels it.
    package let statementTimeout: Double

    /// `connectTimeout` and keepalives go into the connection string unless it sets them: a
    /// database that accepts and never answers, or a link that dies silently, is noticed in
    /// seconds instead of hanging the shard.
    package init(conninfo: String, connectTimeout: Double = 5, statementTimeout: Double = 30) throws(Failure) {
        var info = conninfo
        if !info.contains("connect_timeout") { info += " connect_timeout=\(max(1, Int(connectTimeout)))" }
        if !info.contains("keepalives") {
            info += " keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3"
        }
        self.conninfo = info
        self.statementTimeout = statementTimeout
        try connect()
    }

    deinit { PQfinish(connection) }

    package var isConnected: Bool { connection != nil && PQstatus(connection) == CONNECTION_OK }

    /// (Re)connects; a server that went away and came back is picked up here.
    package func connect() throws(Failure) {
        PQfinish(connection)
        connection = PQconnectdb(conninfo)
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(connection)
            connection = nil
            throw Failure(
                message: "cannot connect to PostgreSQL: \(message.trimmingCharacters(in: .whitespacesAndNewlines))",
                sqlState: nil)
        }
        // Notices (e.g. "relation already exists, skipping") would go to stderr otherwise.
        _ = try execute("SET client_min_messages = warning")
        _ = try execute("SET statement_timeout = \(Int(statementTimeout * 1000))")
    }

    @discardableResult
    package func execute(_ sql: String, _ parameters: [String?] = []) throws(Failure) -> Outcome {
        guard let connection else { throw Failure(message: "not connected to PostgreSQL", sqlState: nil) }
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        // Without parameters, PQexec: it runs several statements (a migration) in one call.
        let result: OpaquePointer? =
            parameters.isEmpty
            ? PQexec(connection, sql)
            : copies.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                    PQexecParams(connection, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
                }
            }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
            throw Failure(
                message: message.isEmpty ? "PostgreSQL: \(String(cString: PQresStatus(status)))" : message,
                sqlState: state)
        }
        var outcome = Outcome()
        outcome.affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        if status == PGRES_TUPLES_OK {
            let rows = PQntuples(result)
            let columns = PQnfields(result)
            for row in 0..<rows {
                outcome.rows.append(
                    (0..<columns).map { column in
                        PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                    })
            }
        }
        return outcome
    }

    /// Runs `body` in one transaction: all of it is committed, or none.
    package func transaction<T>(_ body: () throws(Failure) -> T) throws(Failure) -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }
}
