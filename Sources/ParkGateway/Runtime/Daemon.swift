import Dispatch
import Foundation
import Logging
import MQTTClient
import ParkConfig
import ParkIngest
import ServiceLifecycle
import ServiceSupport
import Synchronization
import TelemetryCore

/// `parkd run`: the gateway as services under one service group. `serve` opens every output
/// first (what cannot be opened stops parkd before it connects), restores the saved state,
/// then runs the services in this order:
///
///     HTTP endpoint → uplink sender → history writer → summary loop → MQTT ingest
///
/// They start in that order and stop in the reverse one on SIGTERM or SIGINT: ingest leaves
/// the broker first, so nothing acknowledged is lost; the summary loop writes the last alerts,
/// the partial interval and the snapshots; the history writer commits its last batch; the
/// uplink sends what it can (the outbox keeps the rest); the endpoint answers to the end.
public final class Daemon: Sendable {
    private let configuration: DaemonConfiguration
    private let logger: Logger
    public let pipeline: IngestPipeline
    public let observability: Observability
    /// Alert and summary lines also go to standard output (in the foreground).
    private let echo: Bool
    /// The command line's overrides (--broker, --http): applied to every reloaded file too.
    private let overrides: @Sendable (inout DaemonConfiguration) -> Void
    private let signals = LoopSignals()

    public init(
        configuration: DaemonConfiguration, logger: Logger, echo: Bool = false,
        overrides: @escaping @Sendable (inout DaemonConfiguration) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.echo = echo
        self.overrides = overrides
        pipeline = IngestPipeline(settings: configuration.pipelineSettings, logger: logger)
        observability = Observability(pipeline: pipeline, logger: logger)
        observability.apply(Observability.Settings(configuration))
    }

    /// SIGHUP reloads the configuration; SIGTERM and SIGINT belong to the service group. The
    /// source is made before the services start, so a SIGHUP right after READY=1 is caught.
    private func reloadSource() -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        // A child that goes away while the daemon writes to it (curl, stopped mid-upload) is
        // an error for the writer to handle, not a signal that ends the daemon.
        signal(SIGPIPE, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { [logger, self] in
            logger.notice("received SIGHUP; reloading the configuration")
            self.signals.requestReload()
        }
        hangup.resume()
        return hangup
    }

    /// Assembles the gateway and runs it until SIGTERM or SIGINT (a graceful stop within 30 s).
    public func serve() async throws {
        let configuration = configuration
        let logger = logger
        let hangup = reloadSource()
        defer { hangup.cancel() }
        // With an uplink, each history batch also fills the outbox and wakes its sender.
        let sender = configuration.uplink.flatMap { uplink in
            configuration.history.path.map { UplinkSender(configuration: uplink, storePath: $0, logger: logger) }
        }
        var wake: (@Sendable () -> Void)?
        if let sender { wake = { sender.wake() } }
        let outputs = try GatewayOutputs(
            configuration: configuration, truncate: false, logger: logger, outbox: sender?.configuration.outboxPolicy,
            onQueued: wake)
        let uplink = outputs.history == nil ? nil : sender
        let signals = signals
        let sparkplug =
            configuration.topics.contains { $0.sparkplug != nil }
            ? SparkplugHostLink(
                configuration: configuration.sparkplug ?? SparkplugConfiguration(), logger: logger, now: WallClock.now()
            )
            : nil
        let ingest = try MQTTIngest(
            configuration: configuration, pipeline: pipeline, observability: observability, logger: logger,
            sparkplug: sparkplug, beforeDisconnect: { signals.flushAlerts(timeout: 3) })
        observability.attach(history: outputs.history)
        observability.attach(uplink: uplink)
        let feed = configuration.feed.map { RegulatorFeed(configuration: $0, logger: logger) }
        observability.attach(feed: feed)
        restoreState()
        for warning in configuration.warnings { logger.warning("configuration: \(warning)") }
        let s = configuration.summaries
        logger.info(
            "parkd starting",
            metadata: [
                "config": "\(configuration.file)", "broker": "\(configuration.broker.url)",
                "summaries": "\(s.path)", "intervals": "\(s.intervals.map(TimeText.format).joined(separator: ","))",
            ])

        let (pipeline, observability, echo, overrides) = (pipeline, observability, echo, overrides)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let listen = configuration.listen {
            let (host, port) = (listen.host, listen.port)
            let app = HTTPEndpoint.application(observability, pipeline: pipeline, host: host, port: port)
            services.append(.init(service: app))
            logger.info(
                "HTTP endpoint on http://\(host):\(port) (/metrics, /healthz, /api/alerts, /api/summary, /api/series)")
            if let probes = configuration.probeListen {
                services.append(
                    .init(service: HTTPEndpoint.probeApplication(observability, host: probes.host, port: probes.port)))
                logger.info("probe endpoint on http://\(probes.host):\(probes.port) (/metrics, /healthz)")
            }
        }
        if let uplink {
            services.append(
                .init(service: ShutdownStep(start: { Self.start(uplink, logger: logger) }, stop: uplink.stop)))
        }
        if let history = outputs.history { services.append(.init(service: ShutdownStep(stop: history.flush))) }
        if let feed {
            let f = feed.configuration
            let target =
                f.upload.map { ", uploaded to \($0.url)\($0.tls ? " with TLS" : "")" }
                ?? ", not uploaded (no regulator_feed.upload)"
            logger.info(
                "regulator feed: \(f.stations.map(\.id).joined(separator: ", ")) every \(TimeText.format(Double(f.format.cycleMilliseconds) / 1000)) into \(f.directory)\(target)"
            )
            services.append(.init(service: ShutdownStep(start: feed.start, stop: feed.stop)))
        }
        services.append(
            .init(
                service: ThreadService(
                    name: "parkd-summaries",
                    body: {
                        let loop = SummaryLoop(
                            configuration: configuration, pipeline: pipeline, observability: observability,
                            ingest: ingest, outputs: outputs, uplink: uplink, feed: feed, sparkplug: sparkplug,
                            logger: logger, echo: echo, overrides: overrides)
                        loop.run(signals: signals)
                    },
                    stop: { signals.requestStop() })))
        services.append(.init(service: ingest))
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(30)
        try await ServiceGroup(configuration: group).run()
        outputs.close()
        let totals = pipeline.totals
        logger.info(
            "parkd stopped",
            metadata: [
                "messages": "\(totals.messages)", "readings": "\(totals.readings)",
                "rejected": "\(totals.rejectedTotal)", "series": "\(pipeline.seriesCount)",
            ])
    }

    /// Windows, open compliance periods and active alerts as the last run saved them.
    private func restoreState() {
        let state = configuration.stateDirectory
        WindowState.restore(pipeline, from: state + "/windows.snapshot", logger: logger)
        ComplianceState.restore(pipeline, from: state + "/compliance.json", logger: logger)
        FeedState.restore(pipeline, from: state + "/feed.json", logger: logger)
        if configuration.topics.contains(where: { $0.sparkplug != nil }) {
            SparkplugState.restore(pipeline, from: state + "/sparkplug.json", logger: logger)
        }
        let statePath = state + "/alerts.json"
        if let (saved, episodes, at) = AlertState.load(from: statePath, logger: logger) {
            let now = WallClock.now()
            let dropped = pipeline.restoreAlerts(saved, at: now)
            pipeline.restoreEpisodes(episodes, at: now)
            let note = dropped > 0 ? "; \(dropped) no longer match a rule" : ""
            logger.notice(
                "restored \(saved.count - dropped) active alerts from \(statePath), saved \((now.milliseconds - at.milliseconds) / 1000)s ago\(note)"
            )
        }
    }

    /// The uplink's sender, fed by the history writer: each batch's items are queued in the
    /// outbox in the batch's transaction, then the sender is woken.
    private static func start(_ sender: UplinkSender, logger: Logger) {
        let settings = sender.configuration
        do {
            try sender.start()
        } catch {
            logger.error("uplink cannot start (\(error)); items stay in the outbox until it can")
        }
        logger.info(
            "uplink to \(([settings.broker.url] + settings.broker.fallbackURLs).map(\.description).joined(separator: ", ")) on \(settings.topic): \(settings.kinds.map(\.rawValue).sorted().joined(separator: ", "))"
        )
    }

    /// The day's report for each park, logged; a failure is logged, never fatal.
    package static func writeReports(
        path: String, parks: [String], day: String, folder: String, pdf: Bool, offset: Int, logger: Logger
    ) {
        do {
            let reader = try HistoryReader(path: path, utcOffsetMinutes: offset)
            for park in parks {
                let written = try DailyReport(reader: reader, park: park, day: day).write(
                    to: folder, pdf: pdf, generated: WallClock.now())
                logger.notice("daily report of \(park) for \(day): \(written.pdf ?? written.html)")
                if let note = written.note { logger.warning("daily report of \(park): \(note)") }
            }
        } catch {
            logger.error("daily reports for \(day) not written: \(error)")
        }
    }

}
