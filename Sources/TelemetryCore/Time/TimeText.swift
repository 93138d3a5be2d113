/// Durations (`500ms`, `30s`, `5m`, `1h`, `7d`, or bare seconds) and UTC offsets (`+07:00`,
/// `UTC+7`, `Z`) as configurations, scenarios and command lines write them.
public enum TimeText {
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmingSpaces()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            let number = t.dropLast(suffix.count)
            if suffix == "s" && number.hasSuffix("m") { continue }
            guard let value = Double(number), value.isFinite else { return nil }
            return value * scale
        }
        guard let value = Double(t), value.isFinite else { return nil }
        return value
    }

    /// The shortest way to write a duration: `1d`, `15m`, `500ms`, `1.5s`.
    public static func format(_ seconds: Double) -> String {
        if seconds >= 86400, seconds.truncatingRemainder(dividingBy: 86400) == 0 { return "\(Int(seconds / 86400))d" }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds == seconds.rounded() { return "\(Int(seconds))s" }
        return "\(seconds)s"
    }

    public static func utcOffsetMinutes(_ text: String) -> Int? {
        let t = text.trimmingSpaces().uppercased()
        if t == "Z" || t == "UTC" || t == "+00:00" { return 0 }
        let body = t.hasPrefix("UTC") ? String(t.dropFirst(3)) : t
        guard let sign = body.first, sign == "+" || sign == "-" else { return nil }
        let parts = body.dropFirst().split(separator: ":")
        guard (1...2).contains(parts.count), let hours = Int(parts[0]), hours <= 14 else { return nil }
        let minutes = parts.count == 2 ? Int(parts[1]) : 0
        guard let minutes, minutes < 60 else { return nil }
        return (hours * 60 + minutes) * (sign == "-" ? -1 : 1)
    }

    /// `+07:00`, `-05:30`.
    public static func offsetText(_ minutes: Int) -> String {
        let sign = minutes < 0 ? "-" : "+"
        let m = abs(minutes)
        return sign + (m / 60 < 10 ? "0" : "") + String(m / 60) + ":" + (m % 60 < 10 ? "0" : "") + String(m % 60)
    }
}
