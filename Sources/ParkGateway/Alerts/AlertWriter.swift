import ParkConfig
import ParkIngest
import TelemetryCore

/// Writes alert transitions to the alerts file and the human log.
package final class AlertWriter: Sendable {
    private let json: LineFile
    private let human: LineFile?
    private let utcOffsetMinutes: Int

    package init(configuration: DaemonConfiguration, truncate: Bool) throws(DaemonError) {
        let rotation = configuration.alerts.rotation
        json = try LineFile(path: configuration.alerts.path, truncate: truncate, rotation: rotation)
        human = try configuration.alerts.log.map { (path) throws(DaemonError) in
            try LineFile(path: path, truncate: truncate, rotation: rotation)
        }
        utcOffsetMinutes = configuration.summaries.utcOffsetMinutes
    }

    /// Every alert goes to both files; a file that refuses a line keeps it and the ones after
    /// it for `retry` (LineFile), so nothing is lost while the disk is full.
    package func write(_ alerts: [AlertTransition]) throws(DaemonError) {
        var first: DaemonError?
        for alert in alerts {
            do throws(DaemonError) {
                try json.append(AlertFormat.json(alert, utcOffsetMinutes: utcOffsetMinutes))
            } catch { first = first ?? error }
            do throws(DaemonError) {
                try human?.append(AlertFormat.human(alert, utcOffsetMinutes: utcOffsetMinutes))
            } catch { first = first ?? error }
        }
        if let first { throw first }
    }

    /// Writes what earlier attempts could not.
    package func retry() throws(DaemonError) {
        var first: DaemonError?
        do throws(DaemonError) { try json.retry() } catch { first = error }
        do throws(DaemonError) { try human?.retry() } catch { first = first ?? error }
        if let first { throw first }
    }

    /// Lines still waiting, over both files.
    package var pending: Int { json.backlog.pending + (human?.backlog.pending ?? 0) }

    package func close() {
        try? retry()
        json.sync()
        json.close()
        human?.sync()
        human?.close()
    }
}
