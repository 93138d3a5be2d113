import Foundation

/// A throwaway PostgreSQL server from Debian's binaries (initdb, pg_ctl) in a temporary
/// folder on a free loopback port, with a `province` database; removed when dropped. As root
/// (CI), the server runs as the `postgres` user: PostgreSQL refuses to run as root.
public final class PostgresServer: @unchecked Sendable {
    public let directory: URL
    public private(set) var port: Int
    private let binaries: String
    private let asUser: [String]

    public var conninfo: String { "host=127.0.0.1 port=\(port) dbname=province user=parkd connect_timeout=5" }

    public init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw HarnessError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin); run 'make deps'")
        }
        binaries = "/usr/lib/postgresql/\(version)/bin"
        directory = try Scratch.makeDirectory(prefix: "pg")
        asUser = geteuid() == 0 ? [try Command.find("runuser"), "-u", "postgres", "--"] : []
        port = try FreePort.pick()
        if geteuid() == 0 { try Command.run(try Command.find("chown"), ["postgres", directory.path]) }
        try run("initdb", ["-D", data, "-A", "trust", "-U", "parkd", "-E", "UTF8", "--no-sync"])
        for attempt in 1...5 {
            let settings = """
                port = \(port)
                listen_addresses = '127.0.0.1'
                unix_socket_directories = '\(directory.path)'
                max_connections = 50
                shared_buffers = 32MB
                """
            try (settings + "\n").write(
                toFile: data + "/postgresql.auto.conf", atomically: true, encoding: .utf8)
            do {
                try start()
                break
            } catch  where attempt < 5 {
                port = try FreePort.pick()
            }
        }
        try psql("CREATE DATABASE province", database: "postgres")
    }

    deinit {
        try? run("pg_ctl", ["-D", data, "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    private var data: String { directory.path + "/data" }

    private var runs = 0

    /// One of PostgreSQL's programs, as the `postgres` user when root, through a child whose
    /// output goes to a file of its own: the server pg_ctl leaves running inherits that
    /// output, and would hold a pipe open forever.
    private func run(_ tool: String, _ arguments: [String]) throws {
        runs += 1
        let output = directory.path + "/\(tool)-\(runs).log"
        let path = binaries + "/" + tool
        let process = try ChildProcess(
            asUser.isEmpty ? path : asUser[0],
            asUser.isEmpty ? arguments : Array(asUser.dropFirst()) + [path] + arguments,
            outputPath: output)
        guard process.wait(timeout: 60) == 0 else {
            throw HarnessError(
                "\(tool) \(arguments.joined(separator: " ")) failed: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")"
            )
        }
    }

    public func start() throws {
        try run("pg_ctl", ["-D", data, "-l", directory.path + "/server.log", "-w", "-t", "30", "start"])
    }

    public func stop() throws {
        try run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
    }

    /// Runs SQL with psql; the rows come back unaligned, `|` between columns, one per line.
    @discardableResult
    public func psql(_ sql: String, database: String = "province") throws -> String {
        try Command.run(
            try Command.find("psql"),
            [
                "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", "parkd",
                "-d", database, "-c", sql,
            ])
    }

    /// A query's single number.
    public func number(_ sql: String) throws -> Int {
        let text = try psql(sql).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Int(text) else { throw HarnessError("expected a number from '\(sql)', found '\(text)'") }
        return value
    }
}
