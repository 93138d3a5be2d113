import Dispatch
import Foundation
import Logging
import MQTTClient
import ServiceLifecycle
import Synchronization
import TelemetryCore

/// `parkd run`: connects, subscribes, ingests, and writes one summary line per interval
/// until SIGTERM or SIGINT, then stops ingest, writes the last (partial) interval, disconnects.
public final class Daemon: @unchecked Sendable {
    public private(set) var configuration: DaemonConfiguration
    private let logger: Logger
    public let pipeline: IngestPipeline
    private let stopSignal = DispatchSemaphore(value: 0)
    private let reloadRequested = Atomic<Bool>(false)
    private var publishClient: MQTTClient?
    private var summaryScheduler: SummaryScheduler?
    public let observability: Observability
    /// Alert and summary lines also go to standard output (in the foreground).
    public var echo = false
    private var alertsUnpublished = 0
    private var signalSources: [DispatchSourceSignal] = []

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        pipeline = IngestPipeline(settings: configuration.pipelineSettings, logger: logger)
        observability = Observability(pipeline: pipeline)
        observability.trafficTimeout = configuration.broker.watchdog
    }

    /// What SIGTERM and SIGINT do, through the service group.
    func requestShutdown() {
        logger.notice("graceful shutdown requested (SIGTERM or SIGINT); shutting down")
        stopSignal.signal()
    }

    /// Runs the daemon under swift-service-lifecycle: the HTTP endpoint starts first and stops
    /// last; SIGTERM or SIGINT shut down gracefully in reverse order, within 30 seconds.
    public func serve() async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let (host, port) = configuration.http {
            let app = HTTPEndpoint.application(observability, pipeline: pipeline, host: host, port: port)
            services.append(.init(service: app))
            logger.info(
                "HTTP endpoint on http://\(host):\(port) (/metrics, /healthz, /api/alerts, /api/summary, /api/series)")
        }
        services.append(.init(service: IngestService(daemon: self)))
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(30)
        try await ServiceGroup(configuration: group).run()
    }

    /// SIGHUP reloads the configuration; SIGTERM and SIGINT belong to the service group.
    public func installReloadHandler() {
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { [logger, self] in
            logger.notice("received SIGHUP; reloading the configuration")
            self.reloadRequested.store(true, ordering: .releasing)
        }
        hangup.resume()
        signalSources.append(hangup)
    }

    /// The ingest loop: runs until a graceful shutdown is requested. Throws only on what
    /// prevents starting at all.
    func run() throws {
        let summaries = try LineFile(path: configuration.summaries.path, rotation: configuration.summaries.rotation)
        var alerts = try AlertWriter(configuration: configuration, truncate: false)
        let pipeline = self.pipeline
        var client = try MQTTClient(
            configuration: configuration.clientConfiguration,
            logger: logger,
            onMessage: { message in pipeline.ingest(message, arrival: WallClock.now()) })
        observability.attach(client)
        let windowPath = configuration.stateDirectory + "/windows.snapshot"
        WindowState.restore(pipeline, from: windowPath, logger: logger)
        let statePath = configuration.stateDirectory + "/alerts.json"
        if let (saved, at) = AlertState.load(from: statePath, logger: logger) {
            let now = WallClock.now()
            let dropped = pipeline.restoreAlerts(saved, at: now)
            let note = dropped > 0 ? "; \(dropped) no longer match a rule" : ""
            logger.notice(
                "restored \(saved.count - dropped) active alerts from \(statePath), saved \((now.milliseconds - at.milliseconds) / 1000)s ago\(note)"
            )
        }
        let s = configuration.summaries
        logger.info(
            "parkd starting",
            metadata: [
                "config": "\(configuration.file)", "broker": "\(configuration.broker.url)",
                "summaries": "\(s.path)", "intervals": "\(s.intervals.map(TimeText.format).joined(separator: ","))",
            ])
        client.start()

        let scheduler = SummaryScheduler(
            pipeline: pipeline, file: summaries, intervals: s.intervals, utcOffsetMinutes: s.utcOffsetMinutes,
            logger: logger)
        let echo = self.echo
        let observability = self.observability
        let tail = Tail(kind: .summaries, path: s.path, filter: .init(), json: false, colour: false)
        // Reads the topic and the client each time: a reload may change both.
        scheduler.onLine = { [logger, self] line in
            observability.noteSummary(line)
            if echo, let shown = tail.render(line) { FileHandle.standardOutput.write(Data((shown + "\n").utf8)) }
            guard let topic = self.configuration.summaries.mqttTopic, let client = self.publishClient else { return }
            do {
                try client.publish(topic, text: line, qos: .atLeastOnce, retain: true, waitWhenFull: false)
            } catch {
                logger.warning("summary not published to \(topic): \(error)")
            }
        }
        summaryScheduler = scheduler
        publishClient = client
        scheduler.start(at: WallClock.now())
        var lastSave = WallClock.now()
        while true {
            // Wake at least every second: alerts are written promptly and silence is noticed.
            let wait = min(1, max(0, Double(scheduler.boundary.milliseconds - WallClock.now().milliseconds) / 1000))
            if stopSignal.wait(timeout: .now() + wait) == .success { break }
            let now = WallClock.now()
            if reloadRequested.exchange(false, ordering: .acquiringAndReleasing) {
                reload(client: &client, alerts: &alerts, at: now)
            }
            pipeline.tick(at: now)
            writeAlerts(to: alerts)
            scheduler.advance(to: now)
            if Double(now.milliseconds - lastSave.milliseconds) >= configuration.snapshotInterval * 1000 {
                saveAlertState(statePath)
                saveWindows(windowPath)
                lastSave = now
            }
        }

        // Ingest stops with the connection; the last lines go to the files only.
        writeAlerts(to: alerts)
        scheduler.onLine = nil
        publishClient = nil
        client.stop()
        writeAlerts(to: alerts)
        alerts.close()
        saveAlertState(statePath)
        saveWindows(windowPath)
        // The partial interval up to shutdown is written too: nothing counted is lost.
        scheduler.finish(at: WallClock.now())
        summaryScheduler?.closeFile()
        let totals = pipeline.totals
        logger.info(
            "parkd stopped",
            metadata: [
                "messages": "\(totals.messages)", "readings": "\(totals.readings)",
                "rejected": "\(totals.rejectedTotal)", "series": "\(pipeline.seriesCount)",
            ])
    }

    /// SIGHUP: a valid file replaces rules, inventory, limits, alert outputs and (reconnecting)
    /// broker settings; an invalid one is refused with its reason and the running one kept.
    private func reload(client: inout MQTTClient, alerts: inout AlertWriter, at now: EventTime) {
        let fresh: DaemonConfiguration
        do {
            fresh = try DaemonConfiguration.load(path: configuration.file)
        } catch {
            logger.error("reload refused, keeping the running configuration: \(error)")
            return
        }
        let old = configuration
        let settings = fresh.pipelineSettings
        let dropped = pipeline.reload(
            rules: fresh.rules, expectedSensors: fresh.expectedSensors, limits: settings.limits, at: now)
        var newAlerts: AlertWriter?
        if fresh.alerts.path != old.alerts.path || fresh.alerts.log != old.alerts.log
            || fresh.alerts.rotation != old.alerts.rotation
        {
            do {
                newAlerts = try AlertWriter(configuration: fresh, truncate: false)
            } catch {
                logger.error("reload: cannot open the new alert outputs (\(error)); keeping the old ones")
            }
        }
        if let newAlerts {
            writeAlerts(to: alerts)
            alerts.close()
            alerts = newAlerts
        }
        if Self.brokerKey(fresh) != Self.brokerKey(old) {
            do {
                let pipeline = self.pipeline
                let replacement = try MQTTClient(
                    configuration: fresh.clientConfiguration, logger: logger,
                    onMessage: { message in pipeline.ingest(message, arrival: WallClock.now()) })
                logger.notice("reload: broker settings changed; reconnecting to \(fresh.broker.url)")
                client.stop()
                replacement.start()
                client = replacement
                observability.attach(replacement)
                publishClient = publishClient == nil ? nil : replacement
            } catch {
                logger.error(
                    "reload: the new broker settings are unusable (\(error)); staying on the current connection")
            }
        }
        if fresh.summaries.path != old.summaries.path || fresh.summaries.rotation != old.summaries.rotation {
            do {
                try summaryScheduler?.replaceFile(
                    with: LineFile(path: fresh.summaries.path, rotation: fresh.summaries.rotation))
            } catch {
                logger.error("reload: cannot open the new summaries file (\(error)); keeping the old one")
            }
        }
        var later: [String] = []
        if fresh.topics.map(\.pattern.text) != old.topics.map(\.pattern.text) { later.append("topics") }
        if fresh.windows != old.windows { later.append("windows") }
        if fresh.summaries.intervals != old.summaries.intervals
            || fresh.summaries.utcOffsetMinutes != old.summaries.utcOffsetMinutes
        {
            later.append("summary intervals")
        }
        if fresh.stateDirectory != old.stateDirectory { later.append("state_dir") }
        configuration = fresh
        let note = later.isEmpty ? "" : "; changes to \(later.joined(separator: ", ")) take effect at the next restart"
        let droppedNote = dropped > 0 ? "; \(dropped) active alerts belonged to rules no longer there" : ""
        logger.notice("configuration reloaded: \(fresh.rules.count) rules\(droppedNote)\(note)")
    }

    /// What identifies a broker connection; the password enters only as a hash.
    static func brokerKey(_ c: DaemonConfiguration) -> String {
        let b = c.broker
        var hasher = Hasher()
        hasher.combine(b.password?.value)
        return [
            "\(b.url)", b.protocolVersion.rawValue, b.clientID, "\(b.keepAlive)", b.username ?? "",
            "\(hasher.finalize())",
            "\(String(describing: b.tls))", "\(b.cleanSession)", "\(b.sessionExpiry)",
            c.subscriptions.map { "\($0.filter)/\($0.qos.rawValue)" }.joined(separator: ","),
        ].joined(separator: "|")
    }

    private func saveWindows(_ path: String) {
        do {
            let now = WallClock.now()
            try WindowState.save(pipeline, to: path, at: now)
            observability.noteSnapshot(at: now)
        } catch {
            logger.error("cannot save the window snapshot to \(path): \(error)")
        }
    }

    private func saveAlertState(_ path: String) {
        guard !configuration.rules.isEmpty else { return }
        do {
            try AlertState.save(pipeline.activeAlerts, to: path, at: WallClock.now())
        } catch {
            logger.error("cannot save alert state to \(path): \(error)")
        }
    }

    private func writeAlerts(to writer: AlertWriter) {
        let (alerts, dropped) = pipeline.takeAlerts()
        if dropped > 0 { logger.error("alert queue full: \(dropped) alert transitions dropped") }
        guard !alerts.isEmpty else { return }
        do {
            try writer.write(alerts)
            observability.noteSinkError(nil)
        } catch {
            logger.error("\(error)")
            observability.noteSinkError("\(error)")
        }
        if let template = configuration.alerts.mqttTopic, let client = publishClient {
            let offset = configuration.summaries.utcOffsetMinutes
            for alert in alerts {
                let topic = template.replacingOccurrences(of: "{park}", with: alert.series.park)
                    .replacingOccurrences(of: "{pillar}", with: alert.series.pillar.rawValue)
                    .replacingOccurrences(of: "{severity}", with: alert.severity.rawValue)
                    .replacingOccurrences(of: "{rule}", with: alert.rule)
                do {
                    try client.publish(
                        topic, text: AlertFormat.json(alert, utcOffsetMinutes: offset), qos: .atLeastOnce,
                        waitWhenFull: false)
                } catch {
                    // The file has every alert; the broker copy is best effort and its losses are counted.
                    alertsUnpublished += 1
                    logger.warning("alert not published to \(topic): \(error) (\(alertsUnpublished) so far)")
                }
            }
        }
        if echo {
            let offset = configuration.summaries.utcOffsetMinutes
            let text = alerts.map { AlertFormat.human($0, utcOffsetMinutes: offset) + "\n" }.joined()
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        for alert in alerts where alert.state == .firing && !alert.repeated {
            logger.notice(
                "alert firing: \(alert.rule) \(alert.series)", metadata: ["severity": "\(alert.severity.rawValue)"])
        }
    }
}

/// The ingest loop as a service: its blocking loop runs on a thread of its own, and a graceful
/// shutdown of the group stops it the way SIGTERM would.
struct IngestService: Service {
    let daemon: Daemon

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        try daemon.run()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "parkd-ingest"
                thread.start()
            }
        } onGracefulShutdown: {
            daemon.requestShutdown()
        }
    }
}
