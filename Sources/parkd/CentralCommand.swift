import ArgumentParser
import Foundation
import Logging
import ParkDaemon

struct Central: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Province side: store the uplink batches of some shards in PostgreSQL.",
        discussion: """
            Migrates the database's schema, then takes each shard's batches over a persistent
            session of its own ({client_id}-{shard}) and upserts them by item id. SIGHUP re-reads
            the shard list: a shard moved here resumes its session, queue included.
            """)

    @Option(name: .shortAndLong, help: "The central YAML configuration file.")
    var config: String

    @Flag(help: "Apply the schema migrations, then exit.")
    var migrateOnly = false

    func run() throws {
        signal(SIGHUP, SIG_IGN)
        let configuration: CentralConfiguration
        do {
            configuration = try CentralConfiguration.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("parkd: configuration error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        bootstrapLogging(configuration.logLevel)
        let worker = CentralWorker(configuration: configuration, logger: Logger(label: "parkd.central"))
        do {
            if migrateOnly {
                try worker.migrate()
            } else {
                try worker.run()
            }
        } catch {
            FileHandle.standardError.write(Data("parkd central: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
