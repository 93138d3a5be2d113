import TelemetryCore

/// Alert transitions as JSON Lines (stable field names) and as one readable line each.
public enum AlertFormat {
    public static func json(_ a: AlertTransition, utcOffsetMinutes: Int) -> String {
        var line = JSONLine()
        line.add("id", a.id)
        line.add("state", a.state.rawValue)
        if a.repeated { line.addRaw("repeated", "true") }
        line.add("rule", a.rule)
        line.add("severity", a.severity.rawValue)
        line.add(series: a.series)
        if let value = a.value { line.add("value", value) }
        if let limit = a.limit { line.add("limit", limit) }
        if let window = a.window { line.add("window", window) }
        if let stat = a.stat { line.add("stat", stat) }
        line.add("at", RFC3339.format(a.at, offsetMinutes: utcOffsetMinutes))
        line.add("since", RFC3339.format(a.since, offsetMinutes: utcOffsetMinutes))
        if let reference = a.reference { line.add("reference", reference) }
        line.add("message", a.message)
        return line.finished()
    }

    /// `2026-11-23T11:15:00+07:00 FIRING   critical pm25-24h  PM2.5 ... at park/zone/...`
    public static func human(_ a: AlertTransition, utcOffsetMinutes: Int) -> String {
        let time = String(RFC3339.format(a.at, offsetMinutes: utcOffsetMinutes).prefix(19))
        let state = a.state == .firing ? (a.repeated ? "STILL" : "FIRING") : "RESOLVED"
        return
            "\(time) \(state.padding(8)) \(a.severity.rawValue.padding(8)) \(a.rule)  \(LogSafe.text(a.message, limit: 400))"
    }
}

/// Writes alert transitions to the alerts file and the human log.
final class AlertWriter {
    private let json: LineFile
    private let human: LineFile?
    private let utcOffsetMinutes: Int

    init(configuration: DaemonConfiguration, truncate: Bool) throws(DaemonError) {
        let rotation = configuration.alerts.rotation
        json = try LineFile(path: configuration.alerts.path, truncate: truncate, rotation: rotation)
        human = try configuration.alerts.log.map { (path) throws(DaemonError) in
            try LineFile(path: path, truncate: truncate, rotation: rotation)
        }
        utcOffsetMinutes = configuration.summaries.utcOffsetMinutes
    }

    /// Every alert goes to both files; a file that refuses a line keeps it and the ones after
    /// it for `retry` (LineFile), so nothing is lost while the disk is full.
    func write(_ alerts: [AlertTransition]) throws(DaemonError) {
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
    func retry() throws(DaemonError) {
        var first: DaemonError?
        do throws(DaemonError) { try json.retry() } catch { first = error }
        do throws(DaemonError) { try human?.retry() } catch { first = first ?? error }
        if let first { throw first }
    }

    /// Lines still waiting, over both files.
    var pending: Int { json.backlog.pending + (human?.backlog.pending ?? 0) }

    func close() {
        try? retry()
        json.sync()
        json.close()
        human?.sync()
        human?.close()
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
