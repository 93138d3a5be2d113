import Logging
import MQTTClient
import ParkConfig
import ParkIngest
import ServiceLifecycle
import ServiceSupport
import Synchronization
import TelemetryCore

/// MQTT ingest as a service: the connection starts with the service (messages go straight
/// into the pipeline on libmosquitto's thread) and leaves the broker with DISCONNECT when the
/// group stops it, first of all services, so nothing is acknowledged that the later ones do
/// not write. A reload may replace the connection (`reconnect`).
package final class MQTTIngest: Service, Sendable {
    private let pipeline: IngestPipeline
    private let observability: Observability
    private let logger: Logger
    private struct State {
        var client: MQTTClient
        var stopped = false
    }
    private let state: Mutex<State>

    /// Called once ingest is told to stop, before DISCONNECT (the last alerts are published).
    private let beforeDisconnect: @Sendable () -> Void
    /// The Sparkplug host's STATE (the connection's will, published on each connect).
    private let sparkplug: SparkplugHostLink?

    package init(
        configuration: DaemonConfiguration, pipeline: IngestPipeline, observability: Observability, logger: Logger,
        sparkplug: SparkplugHostLink? = nil, beforeDisconnect: @escaping @Sendable () -> Void = {}
    ) throws(MQTTError) {
        self.beforeDisconnect = beforeDisconnect
        self.pipeline = pipeline
        self.observability = observability
        self.logger = logger
        self.sparkplug = sparkplug
        let client = try Self.client(configuration, pipeline: pipeline, sparkplug: sparkplug, logger: logger)
        state = Mutex(State(client: client))
        observability.attach(client)
    }

    private static func client(
        _ configuration: DaemonConfiguration, pipeline: IngestPipeline, sparkplug: SparkplugHostLink?, logger: Logger
    ) throws(MQTTError) -> MQTTClient {
        var settings = configuration.clientConfiguration
        settings.will = sparkplug?.will
        return try MQTTClient(
            configuration: settings, logger: logger,
            onMessageView: { message in pipeline.ingest(message, arrival: WallClock.now()) },
            onEvent: { event in
                // Until the broker grants a subscription, what sensors publish on a new session
                // is dropped; a refused one (the broker's ACL) would leave parkd connected and deaf.
                switch event {
                case .connected: sparkplug?.connected()
                case .subscribed(let filters): logger.info("subscribed to \(filters.joined(separator: ", "))")
                case .subscriptionRefused(let filter):
                    logger.error("the broker refused the subscription to \(filter): nothing on it reaches parkd")
                default: break
                }
            })
    }

    /// The connection to publish on (alerts, summaries, compliance records), or nil once
    /// ingest has stopped.
    package var publisher: MQTTClient? {
        state.withLock { $0.stopped ? nil : $0.client }
    }

    package func run() async throws {
        state.withLock { $0.client }.start()
        // The reload handler is in place (installed before serve): systemd may send SIGHUP now.
        SystemdNotify.send("READY=1\nSTATUS=ingesting")
        try? await gracefulShutdown()
        logger.notice("graceful shutdown requested (SIGTERM or SIGINT); shutting down")
        SystemdNotify.send("STOPPING=1")
        // The alerts pending now still go to their MQTT topic; then publishing ends with ingest.
        let beforeDisconnect = beforeDisconnect
        try? await onThread("parkd-flush-alerts", beforeDisconnect)
        let client = state.withLock { (state) -> MQTTClient in
            state.stopped = true
            return state.client
        }
        // A DISCONNECT suppresses the will: the host says it is offline itself.
        sparkplug?.goingOffline(publisher: client)
        // DISCONNECT after the acknowledgements are flushed: up to seconds, on a thread of its own.
        try? await onThread("parkd-disconnect") { client.stop() }
    }

    /// A reload changed the broker section or the subscriptions: a new connection replaces
    /// the running one. Throws (and keeps the running one) when the new settings are unusable.
    package func reconnect(to configuration: DaemonConfiguration) throws(MQTTError) {
        let replacement = try Self.client(configuration, pipeline: pipeline, sparkplug: sparkplug, logger: logger)
        let old = state.withLock { (state) -> MQTTClient? in
            guard !state.stopped else { return nil }
            defer { state.client = replacement }
            return state.client
        }
        guard let old else { return }
        old.stop()
        replacement.start()
        observability.attach(replacement)
    }
}
