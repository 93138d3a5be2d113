import ArgumentParser
import Foundation
import Logging
import ParkCentral
import ParkConfig
import ServiceLifecycle

@main
struct Central: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkd-central",
        abstract: "Province side: store the uplink batches of some shards in PostgreSQL.",
        discussion: """
            Migrates the database's schema, then takes each shard's batches over a persistent
            session of its own ({client_id}-{shard}) and upserts them by item id. SIGHUP re-reads
            the shard list: a shard moved here resumes its session, queue included. /metrics and
            /healthz on http.listen (127.0.0.1:9109 by default).
            """)

    @Option(name: .shortAndLong, help: "The central YAML configuration file.")
    var config: String

    @Flag(help: "Apply the schema migrations, then exit.")
    var migrateOnly = false

    func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let configuration: CentralConfiguration
        do {
            configuration = try CentralConfiguration.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("parkd-central: configuration error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        bootstrapLogging(configuration.logLevel)
        let logger = Logger(label: "parkd.central")
        let worker = CentralWorker(configuration: configuration, logger: logger)
        do {
            if migrateOnly {
                try worker.migrate()
                return
            }
            // The worker blocks on a thread of its own (its sessions' handlers wait for the
            // database); the HTTP endpoint runs beside it until it returns.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let (host, port) = configuration.http {
                services.append(.init(service: CentralEndpoint.application(worker, host: host, port: port)))
                logger.info("HTTP endpoint on http://\(host):\(port) (/metrics, /healthz)")
            }
            // The worker handles SIGTERM, SIGINT and SIGHUP itself; the endpoint stops after it.
            let endpoint = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services, gracefulShutdownSignals: [], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { group in
                if !services.isEmpty { group.addTask { try await endpoint.run() } }
                // The worker blocks on a thread of its own (its sessions' handlers wait for the
                // database); the endpoint runs beside it until it returns.
                try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                    let thread = Thread {
                        do {
                            try worker.run()
                            done.resume()
                        } catch {
                            done.resume(throwing: error)
                        }
                    }
                    thread.name = "parkd-central"
                    thread.start()
                }
                await endpoint.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        } catch {
            FileHandle.standardError.write(Data("parkd-central: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
