import Foundation
import Logging
import MQTTClient
import ParkConfig
import TelemetryCore
import UplinkWire

/// `parkd central`: takes the uplink batches of its shards from the province broker and
/// writes them into PostgreSQL. Each shard has its own persistent session and database
/// connection. A batch is stored before its acknowledgement leaves (libmosquitto writes the
/// PUBACK only after the message handler returns), so a worker killed mid-batch loses
/// nothing: the broker sends the batch again, and the ids make the second copy a no-op.
public final class CentralWorker: @unchecked Sendable {
    /// One shard: its session and its connection to the database.
    package final class Shard: @unchecked Sendable {
        package let name: String
        package let sink: CentralSink
        package var client: MQTTClient?
        package let lock = NSLock()
        package var stopping = false

        package init(name: String, sink: CentralSink) {
            self.name = name
            self.sink = sink
        }

        package var isStopping: Bool {
            lock.lock()
            defer { lock.unlock() }
            return stopping
        }
    }

    private var configuration: CentralConfiguration
    private let logger: Logger
    /// Changed on the worker's thread only; read under `shardsLock` by the HTTP endpoint.
    private var shards: [String: Shard] = [:]
    private let shardsLock = NSLock()
    private let stopSignal = DispatchSemaphore(value: 0)
    private let reloadFlag = NSLock()
    private var reloadRequested = false

    public init(configuration: CentralConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Migrates the schema, serves the shards until SIGTERM or SIGINT; SIGHUP re-reads the
    /// configuration's shard list (a shard moved here starts, one moved away stops).
    public func run() throws {
        try migrate()
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { signal(signalNumber, SIG_IGN) }
        let sources = [SIGTERM, SIGINT, SIGHUP].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if number == SIGHUP {
                    reloadFlag.lock()
                    reloadRequested = true
                    reloadFlag.unlock()
                }
                stopSignal.signal()
            }
            source.resume()
            return source
        }
        defer { withExtendedLifetime(sources) {} }
        try apply(shards: configuration.shards)
        var lastReport = Date()
        var reported = ""
        while true {
            let woke = stopSignal.wait(timeout: .now() + 1) == .success
            if woke {
                reloadFlag.lock()
                let reload = reloadRequested
                reloadRequested = false
                reloadFlag.unlock()
                guard reload else { break }
                reloadShards()
            }
            if Date().timeIntervalSince(lastReport) >= 10 {
                let counts = totals
                if counts != reported {
                    logger.info("central: \(counts)")
                    reported = counts
                }
                lastReport = Date()
            }
        }
        logger.notice("central worker stopping")
        for shard in shards.values { stop(shard) }
        logger.info("central worker stopped: \(totals)")
    }

    /// Brings the database's schema up to date.
    public func migrate() throws {
        let db = try PostgresConnection(conninfo: configuration.postgres)
        let applied = try CentralSchema.migrate(db)
        logger.info(
            "central database ready\(applied.isEmpty ? "" : ", migrations applied: \(applied.map(String.init).joined(separator: ", "))")"
        )
    }

    /// Each shard's figures, its session's state and its database connection's, for /metrics.
    public struct ShardStatus: Sendable {
        public var shard: String
        public var batches: Int
        public var stored: Int
        public var duplicates: Int
        public var refused: Int
        public var sessionConnected: Bool
        public var databaseConnected: Bool
    }

    public var status: [ShardStatus] {
        let current = shardsLock.withLock { shards }
        return current.keys.sorted().map { name in
            let shard = current[name]!
            shard.lock.lock()
            defer { shard.lock.unlock() }
            let c = shard.sink.counts
            return ShardStatus(
                shard: name, batches: c.batches, stored: c.inserted, duplicates: c.duplicates, refused: c.rejected,
                sessionConnected: shard.client?.isConnected ?? false, databaseConnected: shard.sink.db.isConnected)
        }
    }

    /// Every shard's figures together, for the log.
    private var totals: String {
        let all = status
        return
            "\(all.map(\.batches).reduce(0, +)) batches, \(all.map(\.stored).reduce(0, +)) items stored, \(all.map(\.duplicates).reduce(0, +)) duplicates skipped, \(all.map(\.refused).reduce(0, +)) batches refused"
    }

    private func reloadShards() {
        do {
            let reloaded = try CentralConfiguration.load(path: configuration.file)
            guard reloaded.postgres == configuration.postgres, reloaded.topicPrefix == configuration.topicPrefix
            else {
                logger.error("SIGHUP: only shards can change without a restart; the configuration is not applied")
                return
            }
            configuration.shards = reloaded.shards
            try apply(shards: reloaded.shards)
        } catch {
            logger.error("SIGHUP: \(error); keeping shards \(shards.keys.sorted().joined(separator: ", "))")
        }
    }

    private func apply(shards wanted: [String]) throws {
        for (name, shard) in shards where !wanted.contains(name) {
            stop(shard)
            shardsLock.withLock { shards[name] = nil }
            logger.notice("shard \(name) stopped here")
        }
        for name in wanted where shards[name] == nil {
            let shard = Shard(
                name: name, sink: CentralSink(db: try PostgresConnection(conninfo: configuration.postgres)))
            let session = configuration.sessionConfiguration(shard: name)
            let logger = self.logger
            let prefix = configuration.topicPrefix
            let client = try MQTTClient(
                configuration: session, logger: Logger(label: "parkd.central.\(name)"),
                onMessage: { message in Self.handle(message, shard: shard, prefix: prefix, logger: logger) },
                onEvent: { event in
                    if case .connected = event { logger.info("shard \(name): session \(session.clientID) connected") }
                })
            shard.client = client
            client.start()
            shardsLock.withLock { shards[name] = shard }
            logger.notice("shard \(name) served here (session \(session.clientID), \(prefix)/\(name)/#)")
        }
    }

    private func stop(_ shard: Shard) {
        shard.lock.lock()
        shard.stopping = true
        shard.lock.unlock()
        shard.client?.stop()
    }

    /// On the session's network thread: returns only once the batch is stored or refused,
    /// so the acknowledgement follows the commit.
    private static func handle(_ message: MQTTMessage, shard: Shard, prefix: String, logger: Logger) {
        let levels = message.topic.split(separator: "/", omittingEmptySubsequences: false)
        let prefixLevels = prefix.split(separator: "/").count
        let gateway = levels.count == prefixLevels + 2 ? String(levels[prefixLevels + 1]) : nil
        var delay = 0.2
        while !shard.isStopping {
            shard.lock.lock()
            do {
                try shard.sink.apply(message.payload, topicGateway: gateway)
                shard.lock.unlock()
                return
            } catch let refusal as CentralSink.Refusal {
                shard.sink.noteRejected()
                shard.lock.unlock()
                logger.error(
                    "shard \(shard.name): refused a batch on \(LogSafe.text(message.topic, limit: 200)): \(refusal)")
                return
            } catch let failure as PostgresConnection.Failure where failure.isDataError {
                shard.sink.noteRejected()
                shard.lock.unlock()
                logger.error(
                    "shard \(shard.name): the database refused a batch on \(LogSafe.text(message.topic, limit: 200)): \(failure)"
                )
                return
            } catch {
                // The database is away: hold the batch (unacknowledged) and try again.
                shard.lock.unlock()
                logger.warning("shard \(shard.name): \(error); retrying in \(delay)s")
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
                shard.lock.lock()
                if !shard.sink.db.isConnected { try? shard.sink.db.connect() }
                shard.lock.unlock()
            }
        }
    }
}
