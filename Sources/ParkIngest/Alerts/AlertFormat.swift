import TelemetryCore
import UplinkWire

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

extension String {
    package func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
