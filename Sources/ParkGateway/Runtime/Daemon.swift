import Dispatch
import Foundation
import Logging
import MQTTClient
import ParkConfig
import ParkIngest
import ServiceLifecycle
import Synchronization
import TelemetryCore
import UplinkWire

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
    private var history: HistoryWriter?
    private var uplink: UplinkSender?
    public let observability: Observability
    /// Alert and summary lines also go to standard output (in the foreground).
    public var echo = false
    private var alertsUnpublished = 0
    private var signalSources: [DispatchSourceSignal] = []
    /// The command line's overrides (--broker, --http): applied to every reloaded file too.
    public var overrides: @Sendable (inout DaemonConfiguration) -> Void = { _ in }

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        pipeline = IngestPipeline(settings: configuration.pipelineSettings, logger: logger)
        observability = Observability(pipeline: pipeline)
        observability.apply(Observability.Settings(configuration))
    }

    /// What SIGTERM and SIGINT do, through the service group.
    package func requestShutdown() {
        logger.notice("graceful shutdown requested (SIGTERM or SIGINT); shutting down")
        SystemdNotify.send("STOPPING=1")
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
    package func run() throws {
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
        let compliancePath = configuration.stateDirectory + "/compliance.json"
        ComplianceState.restore(pipeline, from: compliancePath, logger: logger)
        let statePath = configuration.stateDirectory + "/alerts.json"
        if let (saved, episodes, at) = AlertState.load(from: statePath, logger: logger) {
            let now = WallClock.now()
            let dropped = pipeline.restoreAlerts(saved, at: now)
            pipeline.restoreEpisodes(episodes, at: now)
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
        // The reload handler is in place (installed before serve): systemd may send SIGHUP now.
        SystemdNotify.send("READY=1\nSTATUS=ingesting")

        let scheduler = SummaryScheduler(
            pipeline: pipeline, file: summaries,
            seriesFile: try s.seriesPath.map { path throws(DaemonError) in
                try LineFile(path: path, rotation: s.rotation)
            },
            complianceFile: try s.compliancePath.map { path throws(DaemonError) in
                try LineFile(path: path, rotation: s.rotation)
            }, intervals: s.intervals, utcOffsetMinutes: s.utcOffsetMinutes, logger: logger)
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
        scheduler.onCompliance = { [logger, self] record, line in
            observability.noteCompliance(record, line: line)
            guard let template = self.configuration.summaries.complianceTopic, let client = self.publishClient else {
                return
            }
            let topic = template.replacingOccurrences(of: "{park}", with: record.series.park)
                .replacingOccurrences(of: "{rule}", with: record.rule)
            do {
                try client.publish(topic, text: line, qos: .atLeastOnce, waitWhenFull: false)
            } catch {
                logger.warning("compliance record not published to \(topic): \(error)")
            }
        }
        if let path = configuration.history.path {
            // With an uplink, each history batch also fills the outbox, and wakes its sender.
            let sender = configuration.uplink.map { UplinkSender(configuration: $0, storePath: path, logger: logger) }
            var wake: (@Sendable () -> Void)?
            if let sender { wake = { sender.wake() } }
            history = HistoryWriter.open(
                path: path, configuration: configuration, logger: logger, outbox: sender?.configuration.outboxPolicy,
                onQueued: wake)
            scheduler.history = history
            observability.attach(history: history)
            if history != nil, let sender {
                start(sender)
                uplink = sender
                observability.attach(uplink: sender)
            }
            if let history, let folder = configuration.history.reportsDirectory {
                let pdf = configuration.history.reportsPDF
                let offset = configuration.summaries.utcOffsetMinutes
                let reports = DispatchQueue(label: "parkd.reports", qos: .background)
                scheduler.onDayClosed = { [logger] from, _, parks in
                    let day = String(RFC3339.format(from, offsetMinutes: offset).prefix(10))
                    // After the day's batch is committed, on a queue of its own (Chromium takes a second).
                    history.afterPending {
                        reports.async {
                            Self.writeReports(
                                path: path, parks: parks, day: day, folder: folder, pdf: pdf, offset: offset,
                                logger: logger)
                        }
                    }
                }
            }
        }
        summaryScheduler = scheduler
        publishClient = client
        scheduler.start(at: WallClock.now())
        var lastSave = WallClock.now()
        while true {
            // Wake at least every second: alerts are written promptly and silence is noticed.
            // Also wake for the next snapshot: a crash loses at most one snapshot_interval, not two.
            let nextSave = lastSave.milliseconds + Int64(configuration.snapshotInterval * 1000)
            let next = min(scheduler.boundary.milliseconds, nextSave)
            let wait = min(1, max(0, Double(next - WallClock.now().milliseconds) / 1000))
            if stopSignal.wait(timeout: .now() + wait) == .success { break }
            let now = WallClock.now()
            if reloadRequested.exchange(false, ordering: .acquiringAndReleasing) {
                reload(client: &client, alerts: &alerts, at: now)
            }
            pipeline.tick(at: now)
            writeAlerts(to: alerts)
            scheduler.advance(to: now)
            noteSink("summaries", error: scheduler.retryFile())
            if let history { noteSink("history", error: history.status.error) }
            // An outbox that cannot be read or updated; an absent province is not a failure.
            if let uplink { noteSink("uplink", error: uplink.status.lastError) }
            if Double(now.milliseconds - lastSave.milliseconds) >= configuration.snapshotInterval * 1000 {
                saveAlertState(statePath)
                saveWindows(windowPath)
                saveCompliance(compliancePath)
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
        saveCompliance(compliancePath)
        // The last batch (the partial interval) is committed before exit; the uplink sends
        // what it can meanwhile, and the outbox keeps the rest for the next start.
        history?.flush()
        uplink?.stop()
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
        var fresh: DaemonConfiguration
        do {
            fresh = try DaemonConfiguration.load(path: configuration.file)
            overrides(&fresh)
        } catch {
            logger.error("reload refused, keeping the running configuration: \(error)")
            return
        }
        let old = configuration
        let plan = ReloadPlan(from: old, to: fresh)
        let settings = fresh.pipelineSettings
        let dropped = pipeline.reload(
            rules: fresh.rules, expectedSensors: fresh.expectedSensors, limits: settings.limits, at: now)
        var newAlerts: AlertWriter?
        if plan.reopenAlerts {
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
        var brokerInForce = fresh.broker
        if plan.reconnect {
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
                brokerInForce = old.broker
                fresh.subscriptions = old.subscriptions
            }
        }
        fresh.broker = brokerInForce
        if plan.reopenSummaries {
            do {
                try summaryScheduler?.replaceFile(
                    with: LineFile(path: fresh.summaries.path, rotation: fresh.summaries.rotation))
            } catch {
                logger.error("reload: cannot open the new summaries file (\(error)); keeping the old one")
                fresh.summaries.path = old.summaries.path
                fresh.summaries.rotation = old.summaries.rotation
            }
        }
        if plan.reopenSeries {
            do {
                try summaryScheduler?.replaceSeriesFile(
                    with: fresh.summaries.seriesPath.map { path throws(DaemonError) in
                        try LineFile(path: path, rotation: fresh.summaries.rotation)
                    })
            } catch {
                logger.error("reload: cannot open the new per-series file (\(error)); keeping the old one")
                fresh.summaries.seriesPath = old.summaries.seriesPath
            }
        }
        if plan.reopenCompliance {
            do {
                try summaryScheduler?.replaceComplianceFile(
                    with: fresh.summaries.compliancePath.map { path throws(DaemonError) in
                        try LineFile(path: path, rotation: fresh.summaries.rotation)
                    })
            } catch {
                logger.error("reload: cannot open the new compliance file (\(error)); keeping the old one")
                fresh.summaries.compliancePath = old.summaries.compliancePath
            }
        }
        if plan.windowMemoryChanged {
            logger.warning(
                "reload: which windows keep quantile sketches or full detail changed (what rules and windows read); this applies after a restart"
            )
        }
        // What cannot change while running keeps its running value until the restart, so
        // the daemon, /healthz and the status page all report the configuration in force.
        var inForce = fresh
        if !plan.atRestart.isEmpty {
            inForce = old
            inForce.file = fresh.file
            inForce.broker = fresh.broker
            inForce.subscriptions = fresh.subscriptions
            inForce.rules = fresh.rules
            inForce.ruleFiles = fresh.ruleFiles
            inForce.expectedSensors = fresh.expectedSensors
            inForce.limits = fresh.limits
            inForce.alerts = fresh.alerts
            let intervals = (old.summaries.intervals, old.summaries.utcOffsetMinutes)
            inForce.summaries = fresh.summaries
            (inForce.summaries.intervals, inForce.summaries.utcOffsetMinutes) = intervals
        }
        configuration = inForce
        observability.apply(Observability.Settings(inForce))
        let note =
            plan.atRestart.isEmpty
            ? "" : "; changes to \(plan.atRestart.joined(separator: ", ")) take effect at the next restart"
        let droppedNote = dropped > 0 ? "; \(dropped) active alerts belonged to rules no longer there" : ""
        logger.notice("configuration reloaded: \(fresh.rules.count) rules\(droppedNote)\(note)")
    }

    private func saveWindows(_ path: String) {
        do {
            let now = WallClock.now()
            try WindowState.save(pipeline, to: path, at: now)
            observability.noteSnapshot(at: now)
            noteSink("windows", error: nil)
        } catch {
            noteSink("windows", error: "cannot save the window snapshot to \(path): \(error)")
        }
    }

    /// The day's report for each park, logged; a failure is logged, never fatal.
    /// The uplink's sender, fed by the history writer: each batch's items are queued in the
    /// outbox in the batch's transaction, then the sender is woken.
    private func start(_ sender: UplinkSender) {
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

    private func saveCompliance(_ path: String) {
        guard configuration.rules.contains(where: { $0.compliancePeriod != nil }) else { return }
        do {
            try ComplianceState.save(pipeline, to: path, at: WallClock.now())
            noteSink("compliance_state", error: nil)
        } catch {
            noteSink("compliance_state", error: "cannot save compliance state to \(path): \(error)")
        }
    }

    private func saveAlertState(_ path: String) {
        guard !configuration.rules.isEmpty else { return }
        do {
            try AlertState.save(pipeline.activeAlerts, episodes: pipeline.episodes, to: path, at: WallClock.now())
            noteSink("alert_state", error: nil)
        } catch {
            noteSink("alert_state", error: "cannot save alert state to \(path): \(error)")
        }
    }

    /// Records an output's state for /healthz, and logs when it fails and when it recovers
    /// (not once a second while it stays broken).
    private func noteSink(_ name: String, error: String?) {
        let before = observability.sinkErrors[name]
        observability.noteSink(name, error: error)
        if let error, before == nil {
            logger.error("output \(name) failing: \(error)")
        } else if error == nil, let before {
            logger.notice("output \(name) recovered (was: \(before))")
        }
    }

    /// Also retries what the files refused before (a full disk): each second until it works.
    private func writeAlerts(to writer: AlertWriter) {
        let alerts = pipeline.takeAlerts()
        do {
            if alerts.isEmpty { try writer.retry() } else { try writer.write(alerts) }
            noteSink("alerts", error: nil)
        } catch {
            noteSink("alerts", error: "\(error); \(writer.pending) alert lines kept for retry")
        }
        guard !alerts.isEmpty else { return }
        let offset = configuration.summaries.utcOffsetMinutes
        history?.add(alerts: alerts.map { ($0.at.milliseconds, AlertFormat.json($0, utcOffsetMinutes: offset)) })
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
package struct IngestService: Service {
    package let daemon: Daemon

    package func run() async throws {
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
