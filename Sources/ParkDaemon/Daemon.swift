import Dispatch
import Foundation
import Logging
import MQTTClient
import TelemetryCore

/// `parkd run`: connects, subscribes, ingests, and writes one summary line per interval
/// until SIGTERM or SIGINT, then stops ingest, writes the last (partial) interval, disconnects.
public final class Daemon: @unchecked Sendable {
    public let configuration: DaemonConfiguration
    private let logger: Logger
    public let pipeline: IngestPipeline
    private let stopSignal = DispatchSemaphore(value: 0)
    private var publishClient: MQTTClient?
    /// Alert and summary lines also go to standard output (in the foreground).
    public var echo = false
    private var alertsUnpublished = 0
    private var signalSources: [DispatchSourceSignal] = []

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        pipeline = IngestPipeline(settings: configuration.pipelineSettings, logger: logger)
    }

    /// Asks a running daemon to shut down (what SIGTERM does).
    public func stop() { stopSignal.signal() }

    public func installSignalHandlers() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [logger, stopSignal] in
                logger.notice("received \(number == SIGTERM ? "SIGTERM" : "SIGINT"); shutting down")
                stopSignal.signal()
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Runs until `stop()` or a signal. Throws only on what prevents starting at all.
    public func run() throws {
        let summaries = try LineFile(path: configuration.summaries.path, rotation: configuration.summaries.rotation)
        let alerts = try AlertWriter(configuration: configuration, truncate: false)
        let pipeline = self.pipeline
        let client = try MQTTClient(
            configuration: configuration.clientConfiguration,
            logger: logger,
            onMessage: { message in pipeline.ingest(message, arrival: WallClock.now()) })
        let windowPath = configuration.stateDirectory + "/windows.snapshot"
        WindowState.restore(pipeline, from: windowPath, logger: logger)
        let statePath = configuration.stateDirectory + "/alerts.json"
        if let (saved, at) = AlertState.load(from: statePath, logger: logger) {
            let now = WallClock.now()
            let dropped = pipeline.restoreAlerts(saved, at: now)
            let note = dropped > 0 ? "; \(dropped) no longer match a rule" : ""
            logger.notice(
                "restored \(saved.count - dropped) active alerts from \(statePath), saved \((now.milliseconds - at.milliseconds) / 1000)s ago\(note)")
        }
        let s = configuration.summaries
        logger.info(
            "parkd starting",
            metadata: [
                "config": "\(configuration.file)", "broker": "\(configuration.broker.url)",
                "summaries": "\(s.path)", "intervals": "\(s.intervals.map(DurationText.format).joined(separator: ","))",
            ])
        client.start()

        let scheduler = SummaryScheduler(
            pipeline: pipeline, file: summaries, intervals: s.intervals, utcOffsetMinutes: s.utcOffsetMinutes,
            logger: logger)
        let echo = self.echo
        let tail = Tail(kind: .summaries, path: s.path, filter: .init(), json: false, colour: false)
        if let topic = s.mqttTopic {
            scheduler.onLine = { [logger] line in
                if echo, let shown = tail.render(line) { FileHandle.standardOutput.write(Data((shown + "\n").utf8)) }
                do {
                    try client.publish(topic, text: line, qos: .atLeastOnce, retain: true, waitWhenFull: false)
                } catch {
                    logger.warning("summary not published to \(topic): \(error)")
                }
            }
        } else if echo {
            scheduler.onLine = { line in
                if let shown = tail.render(line) { FileHandle.standardOutput.write(Data((shown + "\n").utf8)) }
            }
        }
        publishClient = client
        scheduler.start(at: WallClock.now())
        var lastSave = WallClock.now()
        while true {
            // Wake at least every second: alerts are written promptly and silence is noticed.
            let wait = min(1, max(0, Double(scheduler.boundary.milliseconds - WallClock.now().milliseconds) / 1000))
            if stopSignal.wait(timeout: .now() + wait) == .success { break }
            let now = WallClock.now()
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
        summaries.close()
        let totals = pipeline.totals
        logger.info(
            "parkd stopped",
            metadata: [
                "messages": "\(totals.messages)", "readings": "\(totals.readings)",
                "rejected": "\(totals.rejectedTotal)", "series": "\(pipeline.seriesCount)",
            ])
    }

    private func saveWindows(_ path: String) {
        do {
            try WindowState.save(pipeline, to: path, at: WallClock.now())
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
        } catch {
            logger.error("\(error)")
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
                        topic, text: AlertFormat.json(alert, utcOffsetMinutes: offset), qos: .atLeastOnce, waitWhenFull: false)
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
            logger.notice("alert firing: \(alert.rule) \(alert.series)", metadata: ["severity": "\(alert.severity.rawValue)"])
        }
    }
}
