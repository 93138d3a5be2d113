import Foundation
import Logging
import MQTTClient
import ParkConfig
import Synchronization
import TelemetryCore
import UplinkWire

/// `parkd central`: takes the uplink batches of its shards from the province broker and
/// writes them into PostgreSQL. Each shard has its own persistent session and database
/// connection. A batch is stored before its acknowledgement leaves (libmosquitto writes the
/// PUBACK only after the message handler returns), so a worker killed mid-batch loses
/// nothing: the broker sends the batch again, and the ids make the second copy a no-op.
public final class CentralWorker: Sendable {
    /// One shard: its session and its connection to the database.
    package final class Shard: Sendable {
        package let name: String
        /// The sink and its libpq connection, used by the session's handler one batch at a time.
        package let sink: Mutex<CentralSink>
        /// What the HTTP endpoint reads, copied after each batch: a status read never waits
        /// for the database.
        private let control = Mutex(Control())

        private struct Control {
            var client: MQTTClient?
            var stopping = false
            var counts = CentralSink.Counts()
            var databaseConnected = true
            /// The broker refused the session's subscription (the worker's user lacks the
            /// shard): connected, and sent nothing.
            var subscriptionRefused = false
            /// Since when a batch has been retried without being stored.
            var holdingSince: ContinuousClock.Instant?
        }

        /// Whether a batch is being retried (the database away): its age is on /metrics,
        /// and past `stalled_after` /healthz fails.
        package func holding(_ yes: Bool) {
            control.withLock { control in
                if !yes {
                    control.holdingSince = nil
                } else if control.holdingSince == nil {
                    control.holdingSince = .now
                }
            }
        }

        package init(name: String, sink: consuming sending CentralSink) {
            self.name = name
            self.sink = Mutex(sink)
        }

        package var isStopping: Bool { control.withLock { $0.stopping } }
        package var client: MQTTClient? { control.withLock { $0.client } }
        package func attach(_ client: MQTTClient) { control.withLock { $0.client = client } }

        /// Marks the shard stopping and returns its session to stop.
        package func stopping() -> MQTTClient? {
            control.withLock { (control) -> MQTTClient? in
                control.stopping = true
                return control.client
            }
        }

        package func noteSubscription(refused: Bool) { control.withLock { $0.subscriptionRefused = refused } }

        package func note(counts: CentralSink.Counts, databaseConnected: Bool) {
            control.withLock {
                $0.counts = counts
                $0.databaseConnected = databaseConnected
            }
        }

        package var status: ShardStatus {
            let (counts, database, client, since, refused) = control.withLock {
                ($0.counts, $0.databaseConnected, $0.client, $0.holdingSince, $0.subscriptionRefused)
            }
            return ShardStatus(
                shard: name, batches: counts.batches, stored: counts.inserted, duplicates: counts.duplicates,
                refused: counts.rejected, refusedBy: counts.refusedBy,
                batchInHandSeconds: since.map { (ContinuousClock.now - $0).inSeconds } ?? 0,
                sessionConnected: client?.isConnected ?? false,
                databaseConnected: database, subscriptionRefused: refused)
        }
    }

    private let logger: Logger
    private struct State {
        var configuration: CentralConfiguration
        var shards: [String: Shard] = [:]
        var reloadRequested = false
        var stopRequested = false
        /// Why the database has not been reached yet at start, or nil once it has been.
        var databaseProblem: String? = "not reached yet"
    }
    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)
    private let file: String

    public init(configuration: CentralConfiguration, logger: Logger) {
        self.logger = logger
        file = configuration.file
        state = Mutex(State(configuration: configuration))
    }

    private var configuration: CentralConfiguration { state.withLock { $0.configuration } }

    /// Why the database could not be reached at start (nil once it was): /healthz fails.
    public var databaseProblem: String? { state.withLock { $0.databaseProblem } }

    /// /healthz fails when a batch waits longer than this (`stalled_after`).
    public var stalledAfter: Double { configuration.stalledAfter }

    /// SIGHUP: re-read the shard list at the next turn of the loop.
    public func requestReload() {
        state.withLock { $0.reloadRequested = true }
        wake.signal()
    }

    /// The service group's graceful shutdown (SIGTERM, SIGINT): the loop stops its shards and returns.
    public func requestStop() {
        state.withLock { $0.stopRequested = true }
        wake.signal()
    }

    /// Migrates the schema, serves the shards until `requestStop`; a reload re-reads the
    /// configuration's shard list (a shard moved here starts, one moved away stops).
    public func run() throws {
        // A database that is down, or that accepts and never answers, is waited for (each
        // attempt bounded by the connect timeout) and reported on /healthz, not fatal.
        var delay = 1.0
        while true {
            do {
                try migrate()
                state.withLock { $0.databaseProblem = nil }
                break
            } catch {
                state.withLock { $0.databaseProblem = "\(error)" }
                logger.error("central database not reached (\(error)); trying again in \(delay)s")
                _ = wake.wait(timeout: .now() + delay)
                if state.withLock({ $0.stopRequested }) { return }
                delay = min(delay * 2, 30)
            }
        }
        try apply(shards: configuration.shards)
        var lastReport = Date()
        var reported = ""
        while true {
            _ = wake.wait(timeout: .now() + 1)
            let (stop, reload) = state.withLock { (state) -> (Bool, Bool) in
                defer { state.reloadRequested = false }
                return (state.stopRequested, state.reloadRequested)
            }
            if stop { break }
            if reload { reloadShards() }
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
        // Every shard stops taking batches first, then each session leaves in turn.
        let all = state.withLock { Array($0.shards.values) }
        let clients = all.map { $0.stopping() }
        for client in clients { client?.stop() }
        logger.info("central worker stopped: \(totals)")
    }

    /// Brings the database's schema up to date.
    public func migrate() throws {
        let configuration = configuration
        let db = try PostgresConnection(
            conninfo: configuration.postgres, connectTimeout: configuration.connectTimeout,
            statementTimeout: configuration.statementTimeout)
        let applied = try CentralSchema.migrate(db)
        logger.info(
            "central database ready\(applied.isEmpty ? "" : ", migrations applied: \(applied.map(String.init).joined(separator: ", "))")"
        )
    }

    /// Each shard's figures, its session's state and its database connection's, for /metrics.
    public struct ShardStatus: Sendable, Equatable {
        public var shard: String
        public var batches: Int
        public var stored: Int
        public var duplicates: Int
        public var refused: Int
        /// Refused batches by reason.
        public var refusedBy: [String: Int] = [:]
        /// How long the batch being retried has waited to be stored (0: none).
        public var batchInHandSeconds: Double = 0
        public var sessionConnected: Bool
        public var databaseConnected: Bool
        /// The broker refused the shard's subscription: the session is up and receives nothing.
        public var subscriptionRefused = false
    }

    public var status: [ShardStatus] {
        let current = state.withLock { $0.shards }
        return current.keys.sorted().map { current[$0]!.status }
    }

    /// Every shard's figures together, for the log.
    private var totals: String {
        let all = status
        return
            "\(all.map(\.batches).reduce(0, +)) batches, \(all.map(\.stored).reduce(0, +)) items stored, \(all.map(\.duplicates).reduce(0, +)) duplicates skipped, \(all.map(\.refused).reduce(0, +)) batches refused"
    }

    private func reloadShards() {
        let running = configuration
        do {
            let reloaded = try CentralConfiguration.load(path: file)
            guard reloaded.postgres == running.postgres, reloaded.topicPrefix == running.topicPrefix else {
                logger.error("SIGHUP: only shards can change without a restart; the configuration is not applied")
                return
            }
            state.withLock { $0.configuration.shards = reloaded.shards }
            try apply(shards: reloaded.shards)
        } catch {
            let names = state.withLock { $0.shards.keys.sorted() }
            logger.error("SIGHUP: \(error); keeping shards \(names.joined(separator: ", "))")
        }
    }

    private func apply(shards wanted: [String]) throws {
        let configuration = configuration
        for (name, shard) in state.withLock({ $0.shards }) where !wanted.contains(name) {
            stop(shard)
            state.withLock { $0.shards[name] = nil }
            logger.notice("shard \(name) stopped here")
        }
        for name in wanted where state.withLock({ $0.shards[name] == nil }) {
            let shard = Shard(
                name: name,
                sink: CentralSink(
                    db: try PostgresConnection(
                        conninfo: configuration.postgres, connectTimeout: configuration.connectTimeout,
                        statementTimeout: configuration.statementTimeout),
                    parks: { [configuration] gateway in configuration.parks(of: gateway) }))
            let session = configuration.sessionConfiguration(shard: name)
            let logger = self.logger
            let prefix = configuration.topicPrefix
            let client = try MQTTClient(
                configuration: session, logger: Logger(label: "parkd.central.\(name)"),
                onMessage: { message in Self.handle(message, shard: shard, prefix: prefix, logger: logger) },
                onEvent: { event in
                    switch event {
                    case .connected:
                        logger.info("shard \(name): session \(session.clientID) connected")
                    case .subscribed(let filters):
                        shard.noteSubscription(refused: false)
                        logger.info("shard \(name): subscribed to \(filters.joined(separator: ", "))")
                    case .subscriptionRefused(let filter):
                        shard.noteSubscription(refused: true)
                        logger.error(
                            "shard \(name): the broker refused the subscription to \(filter): this worker's user may not read the shard, and nothing of it arrives"
                        )
                    default: break
                    }
                })
            shard.attach(client)
            client.start()
            state.withLock { $0.shards[name] = shard }
            logger.notice("shard \(name) served here (session \(session.clientID), \(prefix)/\(name)/#)")
        }
    }

    private func stop(_ shard: Shard) {
        shard.stopping()?.stop()
    }

    /// What became of one attempt at a batch.
    private enum Attempt {
        case stored
        case refused(CentralSink.Refusal, sqlState: String?)
        case retry(String)
    }

    /// On the session's network thread: returns only once the batch is stored or refused,
    /// so the acknowledgement follows the commit.
    private static func handle(_ message: MQTTMessage, shard: Shard, prefix: String, logger: Logger) {
        let topic = LogSafe.text(message.topic, limit: 200)
        // Exactly `<prefix>/<shard>/<gateway>`: the gateway level is what the batch is checked
        // against, so a topic of another depth must not skip the check.
        let levels = message.topic.split(separator: "/", omittingEmptySubsequences: false)
        let prefixLevels = prefix.split(separator: "/").count
        guard levels.count == prefixLevels + 2, levels[prefixLevels] == shard.name[...],
            !levels[prefixLevels + 1].isEmpty
        else {
            refuse(
                .init(.wrongTopic, "topic is not \(prefix)/\(shard.name)/<gateway>"), sqlState: nil, message: message,
                topic: topic, shard: shard, logger: logger)
            return
        }
        let gateway = String(levels[prefixLevels + 1])
        var delay = 0.2
        while true {
            let attempt = shard.sink.withLock { (sink) -> Attempt in
                defer { shard.note(counts: sink.counts, databaseConnected: sink.db.isConnected) }
                do {
                    try sink.apply(message.payload, topicGateway: gateway)
                    return .stored
                } catch let refusal as CentralSink.Refusal {
                    return .refused(refusal, sqlState: nil)
                } catch let failure as PostgresConnection.Failure where !failure.isTransient {
                    return .refused(.init(.database, "the database refused it: \(failure)"), sqlState: failure.sqlState)
                } catch {
                    return .retry("\(error)")
                }
            }
            switch attempt {
            case .stored:
                shard.holding(false)
                return
            case .refused(let refusal, let sqlState):
                shard.holding(false)
                refuse(refusal, sqlState: sqlState, message: message, topic: topic, shard: shard, logger: logger)
                return
            case .retry(let reason):
                shard.holding(true)
                if shard.isStopping {
                    // Stopping (SIGTERM, or the shard moved) with the batch not stored: the
                    // connection is cut so the acknowledgement libmosquitto queued never
                    // leaves, and the broker hands the batch to the session again.
                    logger.warning(
                        "shard \(shard.name): stopping with a batch on \(topic) not stored (\(reason)); it stays unacknowledged"
                    )
                    shard.client?.abortConnection()
                    shard.holding(false)
                    return
                }
                // The database is away: hold the batch (unacknowledged) and try again.
                logger.warning("shard \(shard.name): \(reason); retrying in \(delay)s")
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
                shard.sink.withLock { sink in
                    if !sink.db.isConnected { try? sink.db.connect() }
                    shard.note(counts: sink.counts, databaseConnected: sink.db.isConnected)
                }
            }
        }
    }

    /// A batch parkd will never store: counted by reason, logged (wire text made safe) and
    /// acknowledged, so it cannot block its shard.
    private static func refuse(
        _ refusal: CentralSink.Refusal, sqlState: String?, message: MQTTMessage, topic: String, shard: Shard,
        logger: Logger
    ) {
        shard.sink.withLock { sink in
            sink.noteRejected(refusal.reason)
            sink.deadLetter(
                shard: shard.name, topic: message.topic, refusal: refusal, sqlState: sqlState, payload: message.payload)
            shard.note(counts: sink.counts, databaseConnected: sink.db.isConnected)
        }
        logger.error(
            "shard \(shard.name): refused a batch on \(topic) (\(refusal.reason.rawValue)): \(LogSafe.text(refusal.description, limit: 400))"
        )
    }
}
