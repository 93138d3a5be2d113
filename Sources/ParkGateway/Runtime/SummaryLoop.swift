import Dispatch
import Foundation
import Logging
import MQTTClient
import ParkConfig
import ParkIngest
import Synchronization
import TelemetryCore

/// The gateway's once-a-second loop, on a thread of its own (`ThreadService`): stale rules
/// and evictions on the clock, alert transitions to every alert sink, summary lines at their
/// boundaries, snapshots every `snapshot_interval`, and SIGHUP's reload. Everything it
/// changes lives here, on that one thread; what other threads read goes through their locks
/// (the pipeline, the observability state, the ingest connection).
/// What other threads ask of the summary loop: stop, reload, or write the alerts now (ingest
/// does, just before it leaves the broker, so the last ones still go to MQTT).
package final class LoopSignals: Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private let flushed = DispatchSemaphore(value: 0)
    private let stop = Atomic(false)
    private let reload = Atomic(false)
    private let flush = Atomic(false)

    package init() {}

    package func requestStop() {
        stop.store(true, ordering: .releasing)
        wake.signal()
    }

    /// SIGHUP: applied at the loop's next turn (within a second).
    package func requestReload() { reload.store(true, ordering: .releasing) }

    /// Asks the loop to write pending alerts now and waits for it (at most `timeout` seconds).
    package func flushAlerts(timeout: Double) {
        flush.store(true, ordering: .releasing)
        wake.signal()
        _ = flushed.wait(timeout: .now() + timeout)
    }

    /// Waits up to `seconds`, or until woken.
    func wait(_ seconds: Double) { _ = wake.wait(timeout: .now() + seconds) }
    var stopRequested: Bool { stop.load(ordering: .acquiring) }
    func takeReload() -> Bool { reload.exchange(false, ordering: .acquiringAndReleasing) }
    func takeFlush() -> Bool { flush.exchange(false, ordering: .acquiringAndReleasing) }
    func didFlush() { flushed.signal() }
}

package final class SummaryLoop {
    private var configuration: DaemonConfiguration
    private let pipeline: IngestPipeline
    private let observability: Observability
    private let ingest: MQTTIngest
    private let outputs: GatewayOutputs
    private let uplink: UplinkSender?
    private let feed: RegulatorFeed?
    private let sparkplug: SparkplugHostLink?
    private let logger: Logger
    private let echo: Bool
    private let overrides: @Sendable (inout DaemonConfiguration) -> Void
    private var alerts: AlertWriter
    private var sinks: [any AlertSink] = []
    private let scheduler: SummaryScheduler
    private let paths: (windows: String, compliance: String, alerts: String)

    package init(
        configuration: DaemonConfiguration, pipeline: IngestPipeline, observability: Observability,
        ingest: MQTTIngest, outputs: GatewayOutputs, uplink: UplinkSender?, feed: RegulatorFeed? = nil,
        sparkplug: SparkplugHostLink? = nil, logger: Logger, echo: Bool,
        overrides: @escaping @Sendable (inout DaemonConfiguration) -> Void
    ) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.observability = observability
        self.ingest = ingest
        self.outputs = outputs
        self.uplink = uplink
        self.feed = feed
        self.sparkplug = sparkplug
        self.logger = logger
        self.echo = echo
        self.overrides = overrides
        alerts = outputs.alerts
        scheduler = outputs.scheduler(source: pipeline, configuration: configuration, logger: logger)
        let state = configuration.stateDirectory
        paths = (state + "/windows.snapshot", state + "/compliance.json", state + "/alerts.json")
        sinks = makeSinks()
    }

    /// The sinks alert transitions go to under the configuration in force.
    private func makeSinks() -> [any AlertSink] {
        let offset = configuration.summaries.utcOffsetMinutes
        var sinks: [any AlertSink] = [alerts]
        if let history = outputs.history { sinks.append(HistoryAlertSink(history: history, utcOffsetMinutes: offset)) }
        if let template = configuration.alerts.mqttTopic {
            let ingest = ingest
            sinks.append(
                MQTTAlertSink(template: template, utcOffsetMinutes: offset, logger: logger) { ingest.publisher })
        }
        if echo { sinks.append(EchoAlertSink(utcOffsetMinutes: offset)) }
        return sinks
    }

    /// Runs until `stop` is signalled; then writes the last alerts, the partial interval and
    /// the snapshots. Ingest has stopped by then (the service group stops it first).
    package func run(signals: LoopSignals) {
        let s = configuration.summaries
        let observability = observability
        let echo = echo
        let tail = Tail(kind: .summaries, path: s.path, filter: .init(), json: false, colour: false)
        // Reads the topic and the connection each time: a reload may change both.
        scheduler.onLine = { [logger, unowned self] line in
            observability.noteSummary(line)
            if echo, let shown = tail.render(line.text) {
                FileHandle.standardOutput.write(Data((shown + "\n").utf8))
            }
            guard let topic = self.configuration.summaries.mqttTopic, let client = self.ingest.publisher else { return }
            do {
                try client.publish(topic, text: line.text, qos: .atLeastOnce, retain: true, waitWhenFull: false)
            } catch {
                logger.warning("summary not published to \(topic): \(error)")
            }
        }
        scheduler.onCompliance = { [logger, unowned self] record, line in
            observability.noteCompliance(record, line: line)
            guard let template = self.configuration.summaries.complianceTopic, let client = self.ingest.publisher
            else { return }
            let topic = template.replacingOccurrences(of: "{park}", with: record.series.park)
                .replacingOccurrences(of: "{rule}", with: record.rule)
            do {
                try client.publish(topic, text: line, qos: .atLeastOnce, waitWhenFull: false)
            } catch {
                logger.warning("compliance record not published to \(topic): \(error)")
            }
        }
        if let history = outputs.history, let path = configuration.history.path,
            let folder = configuration.history.reportsDirectory
        {
            let pdf = configuration.history.reportsPDF
            let offset = configuration.summaries.utcOffsetMinutes
            let reports = DispatchQueue(label: "parkd.reports", qos: .background)
            scheduler.onDayClosed = { [logger] from, _, parks in
                let day = RFC3339.day(from, offsetMinutes: offset)
                // After the day's batch is committed, on a queue of its own (Chromium takes a second).
                history.afterPending {
                    reports.async {
                        Daemon.writeReports(
                            path: path, parks: parks, day: day, folder: folder, pdf: pdf, offset: offset,
                            logger: logger)
                    }
                }
            }
        }
        scheduler.start(at: WallClock.now())
        var lastSave = WallClock.now()
        while true {
            // Wake at least every second: alerts are written promptly and silence is noticed.
            // Also wake for the next snapshot: a crash loses at most one snapshot_interval, not two.
            let nextSave = lastSave.milliseconds + Int64(configuration.snapshotInterval * 1000)
            let next = min(scheduler.boundary.milliseconds, nextSave)
            let wait = min(1, max(0, Double(next - WallClock.now().milliseconds) / 1000))
            signals.wait(wait)
            if signals.takeFlush() {
                writeAlerts()
                signals.didFlush()
            }
            if signals.stopRequested { break }
            let now = WallClock.now()
            if signals.takeReload() { reload(at: now) }
            pipeline.tick(at: now)
            sparkplug?.tick(pipeline: pipeline, publisher: ingest.publisher, now: now)
            writeAlerts()
            scheduler.advance(to: now)
            noteSink("summaries", error: scheduler.retryFile())
            // The regulator feed's closed cycles (and any file the disk refused before).
            if let feed { feed.write(pipeline.takeFeedCycles(wallClock: now)) }
            if let history = outputs.history {
                history.retry()
                noteSink("history", error: history.status.error)
            }
            // An outbox that cannot be read or updated; an absent province is not a failure.
            if let uplink { noteSink("uplink", error: uplink.status.lastError) }
            if Double(now.milliseconds - lastSave.milliseconds) >= configuration.snapshotInterval * 1000 {
                saveSnapshots()
                lastSave = now
                // The summaries' and snapshots' buffers are freed by now. glibc keeps freed heap
                // pages unless asked, so RSS would follow each minute's peak and the holes between
                // live blocks, not what is live (measured under name churn: +2.8 MiB a minute).
                Self.trimHeap()
            }
        }
        // Ingest has stopped (it had the alerts written and published just before it left the
        // broker): what is left goes to the files (and history), not the broker.
        scheduler.onLine = { line in observability.noteSummary(line) }
        writeAlerts()
        for sink in sinks { sink.close() }
        saveAlertState()
        saveWindows()
        // The partial interval up to shutdown is written too: nothing counted is lost.
        scheduler.finish(at: WallClock.now())
        scheduler.closeFile()
        saveCompliance()
        saveSparkplug()
        // Cycles closed by now go to their files; the open ones to the state file.
        if let feed {
            feed.write(pipeline.takeFeedCycles(wallClock: WallClock.now()))
            saveFeed()
        }
    }

    /// glibc's malloc_trim, looked up at run time (<malloc.h> is not in Swift's Glibc module);
    /// nothing where there is none.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    static func trimHeap() { _ = mallocTrim?(0) }

    private func saveSnapshots() {
        saveAlertState()
        saveWindows()
        saveCompliance()
        saveFeed()
        saveSparkplug()
    }

    private func saveSparkplug() {
        guard sparkplug != nil else { return }
        let path = configuration.stateDirectory + "/sparkplug.json"
        do {
            try SparkplugState.save(pipeline, to: path, at: WallClock.now())
            noteSink("sparkplug_state", error: nil)
        } catch {
            noteSink("sparkplug_state", error: "cannot save the Sparkplug host's state to \(path): \(error)")
        }
    }

    /// SIGHUP: a valid file replaces rules, inventory, limits, alert outputs and (reconnecting)
    /// broker settings; an invalid one is refused with its reason and the running one kept.
    private func reload(at now: EventTime) {
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
                fresh.alerts.path = old.alerts.path
                fresh.alerts.log = old.alerts.log
                fresh.alerts.rotation = old.alerts.rotation
            }
        }
        if let newAlerts {
            writeAlerts()
            alerts.close()
            alerts = newAlerts
        }
        var brokerInForce = fresh.broker
        if plan.reconnect {
            do {
                try ingest.reconnect(to: fresh)
                logger.notice("reload: broker settings changed; reconnecting to \(fresh.broker.url)")
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
                try scheduler.replaceFile(
                    with: LineFile(path: fresh.summaries.path, rotation: fresh.summaries.rotation))
            } catch {
                logger.error("reload: cannot open the new summaries file (\(error)); keeping the old one")
                fresh.summaries.path = old.summaries.path
                fresh.summaries.rotation = old.summaries.rotation
            }
        }
        // The optional files: the new one (or none) from now on, or the old one kept.
        func reopen(
            _ what: String, _ path: WritableKeyPath<DaemonConfiguration.Summaries, String?>,
            _ replace: (LineFile?) -> Void
        ) {
            do {
                replace(
                    try fresh.summaries[keyPath: path].map { path throws(DaemonError) in
                        try LineFile(path: path, rotation: fresh.summaries.rotation)
                    })
            } catch {
                logger.error("reload: cannot open the new \(what) file (\(error)); keeping the old one")
                fresh.summaries[keyPath: path] = old.summaries[keyPath: path]
            }
        }
        if plan.reopenSeries { reopen("per-series", \.seriesPath, scheduler.replaceSeriesFile) }
        if plan.reopenCompliance { reopen("compliance", \.compliancePath, scheduler.replaceComplianceFile) }
        if plan.windowMemoryChanged {
            logger.warning(
                "reload: which windows keep quantile sketches or full detail changed (what rules and windows read); this applies after a restart"
            )
        }
        // What cannot change while running keeps its running value until the restart, so
        // the daemon, /healthz and the status page all report the configuration in force.
        let inForce = ReloadPlan.inForce(old: old, fresh: fresh)
        configuration = inForce
        sinks = makeSinks()
        observability.apply(Observability.Settings(inForce))
        let note =
            plan.atRestart.isEmpty
            ? "" : "; changes to \(plan.atRestart.joined(separator: ", ")) take effect at the next restart"
        let droppedNote = dropped > 0 ? "; \(dropped) active alerts belonged to rules no longer there" : ""
        logger.notice("configuration reloaded: \(fresh.rules.count) rules\(droppedNote)\(note)")
    }

    private func saveWindows() {
        do {
            let now = WallClock.now()
            try WindowState.save(pipeline, to: paths.windows, at: now)
            observability.noteSnapshot(at: now)
            noteSink("windows", error: nil)
        } catch {
            noteSink("windows", error: "cannot save the window snapshot to \(paths.windows): \(error)")
        }
    }

    private func saveFeed() {
        guard feed != nil else { return }
        let path = configuration.stateDirectory + "/feed.json"
        do {
            try FeedState.save(pipeline, to: path, at: WallClock.now())
            noteSink("feed_state", error: nil)
        } catch {
            noteSink("feed_state", error: "cannot save the regulator feed's state to \(path): \(error)")
        }
    }

    private func saveCompliance() {
        guard configuration.rules.contains(where: { $0.compliancePeriod != nil }) else { return }
        do {
            try ComplianceState.save(pipeline, to: paths.compliance, at: WallClock.now())
            noteSink("compliance_state", error: nil)
        } catch {
            noteSink("compliance_state", error: "cannot save compliance state to \(paths.compliance): \(error)")
        }
    }

    private func saveAlertState() {
        guard !configuration.rules.isEmpty else { return }
        do {
            try AlertState.save(
                pipeline.activeAlerts, episodes: pipeline.episodes, to: paths.alerts, at: WallClock.now())
            noteSink("alert_state", error: nil)
        } catch {
            noteSink("alert_state", error: "cannot save alert state to \(paths.alerts): \(error)")
        }
    }

    /// Records an output's state for /healthz, and logs when it fails and when it recovers
    /// (not once a second while it stays broken).
    private func noteSink(_ name: String, error: String?) {
        let before = observability.noteSink(name, error: error)
        if let error, before == nil {
            logger.error("output \(name) failing: \(error)")
        } else if error == nil, let before {
            logger.notice("output \(name) recovered (was: \(before))")
        }
    }

    /// Hands new transitions to every sink; a sink that failed before is retried each second
    /// (a full disk) until it takes them.
    private func writeAlerts() {
        let transitions = pipeline.takeAlerts()
        for sink in sinks {
            do {
                if transitions.isEmpty { try sink.retry() } else { try sink.write(transitions) }
                noteSink(sink.name, error: nil)
            } catch {
                let kept = (sink as? AlertWriter).map { "; \($0.pending) alert lines kept for retry" } ?? ""
                noteSink(sink.name, error: "\(error)\(kept)")
            }
        }
        for alert in transitions where alert.state == .firing && !alert.repeated {
            logger.notice(
                "alert firing: \(alert.rule) \(alert.series)", metadata: ["severity": "\(alert.severity.rawValue)"])
        }
    }
}
