import Logging
import ParkConfig
import ParkIngest
import TelemetryCore

/// The outputs one configuration names, opened once for `run` and `replay` alike: the summary
/// files (summaries, per-series detail, compliance records), the alert files and the history
/// store. `run` appends to them; `replay` starts them afresh (`truncate`).
package struct GatewayOutputs: Sendable {
    package let summaries: LineFile
    package let series: LineFile?
    package let compliance: LineFile?
    package let alerts: AlertWriter
    package let history: HistoryWriter?

    /// Throws what prevents starting at all (a file that cannot be opened). A history store
    /// that cannot be opened is `nil` for `run` (it runs on without, logged) and an error
    /// for a replay that was asked to fill it (`historyRequired`).
    package init(
        configuration: DaemonConfiguration, truncate: Bool, logger: Logger, historyRequired: Bool = false,
        outbox: OutboxPolicy? = nil, onQueued: (@Sendable () -> Void)? = nil
    ) throws(DaemonError) {
        let s = configuration.summaries
        summaries = try LineFile(path: s.path, truncate: truncate, rotation: s.rotation)
        series = try s.seriesPath.map { path throws(DaemonError) in
            try LineFile(path: path, truncate: truncate, rotation: s.rotation)
        }
        compliance = try s.compliancePath.map { path throws(DaemonError) in
            try LineFile(path: path, truncate: truncate, rotation: s.rotation)
        }
        alerts = try AlertWriter(configuration: configuration, truncate: truncate)
        history = configuration.history.path.flatMap { path in
            HistoryWriter.open(
                path: path, configuration: configuration, logger: logger, outbox: outbox, onQueued: onQueued)
        }
        if historyRequired, let path = configuration.history.path, history == nil {
            throw DaemonError.output(path: path, reason: "the history store cannot be opened (see the log)")
        }
    }

    /// The summary scheduler over these files, fed by `source` (one pipeline, or a replay's shards).
    package func scheduler(source: any IntervalSource, configuration: DaemonConfiguration, logger: Logger)
        -> SummaryScheduler
    {
        let s = configuration.summaries
        let scheduler = SummaryScheduler(
            pipeline: source, file: summaries, seriesFile: series, complianceFile: compliance,
            intervals: s.intervals, utcOffsetMinutes: s.utcOffsetMinutes, logger: logger)
        scheduler.history = history
        return scheduler
    }

    /// Closes the files (the scheduler closes the summary files it holds at its end).
    package func close() {
        alerts.close()
        summaries.close()
        series?.close()
        compliance?.close()
    }
}
