import ArgumentParser
import Foundation
import Logging
import ParkCentral
import ParkConfig
import ServiceLifecycle
import ServiceSupport

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
        for warning in configuration.broker.warnings { logger.warning("configuration: \(warning)") }
        let worker = CentralWorker(configuration: configuration, logger: logger)
        do {
            if migrateOnly {
                try worker.migrate()
                return
            }
            // The worker blocks on a thread of its own (its sessions' handlers wait for the
            // database). Services start in order and stop in reverse: SIGTERM or SIGINT stop
            // the worker first (its sessions leave the broker), the endpoint last.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let listen = configuration.listen {
                let (host, port) = (listen.host, listen.port)
                services.append(.init(service: CentralEndpoint.application(worker, host: host, port: port)))
                logger.info("HTTP endpoint on http://\(host):\(port) (/metrics, /healthz)")
            }
            services.append(
                .init(
                    service: ThreadService(
                        name: "parkd-central", body: { try worker.run() }, stop: { worker.requestStop() })))
            // SIGHUP re-reads the shard list.
            let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            hangup.setEventHandler { worker.requestReload() }
            hangup.resume()
            defer { hangup.cancel() }
            var group = ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            group.maximumGracefulShutdownDuration = .seconds(30)
            try await ServiceGroup(configuration: group).run()
        } catch {
            FileHandle.standardError.write(Data("parkd-central: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
