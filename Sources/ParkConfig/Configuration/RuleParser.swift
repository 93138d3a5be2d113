import Foundation
import ParkIngest
import TelemetryCore
import UplinkWire
import Yams

/// Rules from the configuration and from rule-pack files (`rule_files`), checked against the
/// configured windows.
package struct RuleParser {
    package let file: String
    /// Configured windows: name → length in milliseconds.
    package let windows: [String: Int64]
    package let utcOffsetMinutes: Int
    package let validity: ValidityRule

    package static let keys = [
        "id", "description", "severity", "reference", "match", "when", "for", "renotify", "hours", "stale",
        "flatline", "completeness", "counter_reset", "out_of_range", "calibrating", "rate", "require_valid", "from",
        "until", "period", "kq_kf", "applies_at",
    ]

    package func parse(_ item: YAMLValue) throws(ConfigurationError) -> Rule {
        let f = try item.fields(Self.keys)
        guard let idNode = f["id"] else { throw item.error("a rule needs an id") }
        let id = try idNode.nonEmptyString()
        let description = try f["description"]?.nonEmptyString() ?? id
        var severity = Severity.warning
        if let node = f["severity"] {
            let text = try node.string()
            guard let value = Severity(rawValue: text) else {
                throw node.error("expected info, warning or critical, found '\(text)'")
            }
            severity = value
        }
        var matcher = SeriesMatcher()
        if let node = f["match"] {
            let m = try node.fields(["park", "zone", "pillar", "kind", "sensor"])
            matcher.park = try m["park"]?.nonEmptyString()
            matcher.zone = try m["zone"]?.nonEmptyString()
            matcher.kind = try m["kind"]?.nonEmptyString()
            matcher.sensor = try m["sensor"]?.nonEmptyString()
            if let p = m["pillar"] {
                let text = try p.string()
                guard let pillar = Pillar(rawValue: text) else {
                    throw p.error("expected energy, emissions or green, found '\(text)'")
                }
                matcher.pillar = pillar
            }
        }
        let conditionKeys = [
            "when", "stale", "flatline", "completeness", "counter_reset", "out_of_range", "calibrating", "rate",
        ]
        let given = conditionKeys.filter { f[$0] != nil }
        guard given.count == 1 else {
            throw item.error(
                "rule '\(id)' needs exactly one of \(conditionKeys.joined(separator: ", "))\(given.isEmpty ? "" : "; found \(given.joined(separator: ", "))")"
            )
        }
        let condition = try parseCondition(given[0], f[given[0]]!)
        var rule = Rule(
            id: id, description: description, severity: severity, reference: try f["reference"]?.nonEmptyString(),
            matcher: matcher, condition: condition)
        if let node = f["for"] { rule.forMilliseconds = Int64(try node.duration(in: 0...(30 * 86400)) * 1000) }
        if let node = f["renotify"] {
            rule.renotifyMilliseconds = Int64(try node.duration(in: 60...(30 * 86400)) * 1000)
        }
        if let node = f["hours"] {
            let text = try node.string()
            guard let range = Self.hours(text) else {
                throw node.error("expected local hours such as 06:00-21:00, found '\(text)'")
            }
            rule.activeMinutes = range
        }
        rule.utcOffsetMinutes = utcOffsetMinutes
        rule.validity = validity
        if let node = f["require_valid"] { rule.requireValid = try node.bool() }
        rule.validFrom = try f["from"].map(date)
        rule.validUntil = try f["until"].map(date)
        if let window = rule.windowName, windows[window] == nil {
            throw item.error(
                "rule '\(id)' reads window '\(window)', which is not configured (windows: \(windows.keys.sorted().joined(separator: ", ")))"
            )
        }
        if let node = f["kq_kf"] { rule.scaledByKqKf = try node.bool() }
        if let node = f["applies_at"] {
            let text = try node.string()
            guard ["outlet", "ordinary", "special"].contains(text) else {
                throw node.error("rule '\(id)': expected applies_at outlet, ordinary or special, found '\(text)'")
            }
            rule.appliesAt = text
        }
        var period = f["period"]
        if case .threshold(.reading, _, _, _) = rule.condition, let when = f["when"],
            let inner = try when.fields(["reading", "window", "stat", "above", "below", "clear", "period"])["period"]
        {
            guard period == nil else { throw item.error("rule '\(id)' gives its period twice") }
            period = inner
        }
        try compliance(&rule, period: period, item: item)
        return rule
    }

    /// A regulatory limit (a rule that cites a regulation and requires a valid average of a
    /// 1 h, 8 h or 24 h window) is also judged on the fixed period that window stands for;
    /// `period:` says so explicitly, and `period: year` makes an annual limit, judged only on
    /// the calendar year (mean of valid daily means), with no rolling alert.
    private func compliance(_ rule: inout Rule, period node: YAMLValue?, item: YAMLValue) throws(ConfigurationError) {
        var statistic: WindowStatistic?
        var length: Int64?
        var readsWindow = false
        switch rule.condition {
        case .threshold(.window(let name, let stat), _, _, _):
            statistic = stat
            length = windows[name]
            readsWindow = true
        case .threshold(.reading, _, _, _): statistic = .mean
        default: break
        }
        if node == nil, case .threshold(.reading, _, _, _) = rule.condition {
            return  // a limit on each reading: no period to judge
        }
        if let node {
            let text = try node.string()
            guard let period = CompliancePeriod(rawValue: text) else {
                throw node.error(
                    "expected one of \(CompliancePeriod.allCases.map(\.rawValue).joined(separator: ", ")), found '\(text)'"
                )
            }
            guard statistic == .mean || statistic == .leq else {
                throw node.error("rule '\(rule.id)': a compliance period needs a threshold on a mean or leq")
            }
            if period == .year {
                guard !readsWindow else {
                    throw item.error(
                        "rule '\(rule.id)': an annual limit reads no window; write when: {period: year, stat: mean, above: N}"
                    )
                }
                rule.complianceOnly = true
            } else if !readsWindow {
                throw item.error("rule '\(rule.id)': period \(text) needs a window of that length to alert on")
            }
            rule.compliancePeriod = period
        } else if rule.reference != nil, rule.requireValid, statistic == .mean || statistic == .leq, let length {
            rule.compliancePeriod = CompliancePeriod.of(windowMilliseconds: length)
        }
    }

    private func parseCondition(_ key: String, _ node: YAMLValue) throws(ConfigurationError) -> RuleCondition {
        switch key {
        case "when":
            let w = try node.fields(["reading", "window", "stat", "above", "below", "clear", "period"])
            let source: RuleCondition.ValueSource
            if w["period"] != nil && w["window"] != nil {
                throw node.error("give 'window' (a rolling alert) or 'period: year' (an annual limit), not both")
            }
            if let period = w["period"] {
                let text = try period.string()
                guard text == "year" else {
                    throw period.error("'period' inside 'when' is for annual limits (period: year), found '\(text)'")
                }
                let statText = try w["stat"]?.string() ?? "mean"
                guard statText == "mean" || statText == "leq" else {
                    throw (w["stat"] ?? node).error("an annual limit reads stat mean or leq, found '\(statText)'")
                }
                source = .reading
            } else if let window = w["window"] {
                let name = try window.nonEmptyString()
                let statText = try w["stat"]?.string() ?? "mean"
                guard let stat = WindowStatistic(rawValue: statText) else {
                    throw (w["stat"] ?? node).error(
                        "expected one of \(WindowStatistic.allCases.map(\.rawValue).joined(separator: ", ")), found '\(statText)'"
                    )
                }
                source = .window(name, stat)
            } else {
                source = .reading
            }
            switch (w["above"], w["below"]) {
            case (let a?, nil):
                return .threshold(source: source, above: true, limit: try number(a), clear: try w["clear"].map(number))
            case (nil, let b?):
                return .threshold(source: source, above: false, limit: try number(b), clear: try w["clear"].map(number))
            default: throw node.error("give 'above' or 'below' (one of them)")
            }
        case "stale": return .stale(afterMilliseconds: Int64(try node.duration(in: 1...(30 * 86400)) * 1000))
        case "calibrating":
            return .calibrating(afterMilliseconds: Int64(try node.duration(in: 1...(30 * 86400)) * 1000))
        case "out_of_range":
            guard try node.bool() else { throw node.error("out_of_range takes true") }
            return .outOfRange
        case "counter_reset":
            let c = try node.fields(["window"])
            return .counterReset(window: try c["window"]?.nonEmptyString() ?? "1h")
        case "flatline":
            let c = try node.fields(["window", "spread", "min_count"])
            return .flatline(
                window: try c["window"]?.nonEmptyString() ?? "1h", spread: try c["spread"].map(number) ?? 0,
                minCount: try c["min_count"]?.int(in: 2...1_000_000) ?? 10)
        case "completeness":
            let c = try node.fields(["window", "expected", "min_share"])
            guard let expected = c["expected"] else {
                throw node.error("completeness needs 'expected' (readings per window)")
            }
            return .completeness(
                window: try c["window"]?.nonEmptyString() ?? "1h", expected: try expected.int(in: 1...10_000_000),
                minShare: try c["min_share"].map(number) ?? 0.75)
        default:  // rate
            let c = try node.fields(["window", "limit"])
            guard let limit = c["limit"] else { throw node.error("rate needs 'limit' (per second)") }
            return .rateOfChange(window: try c["window"]?.nonEmptyString() ?? "1m", limit: try number(limit))
        }
    }

    /// A date (`2026-01-01`, midnight in the park's local time) or an RFC 3339 instant.
    private func date(_ node: YAMLValue) throws(ConfigurationError) -> EventTime {
        let text = try node.string()
        if let instant = RFC3339.parse(Array(text.utf8)) { return instant }
        let offset = TimeText.offsetText(utcOffsetMinutes)
        guard let day = RFC3339.parse(Array("\(text)T00:00:00\(offset)".utf8)) else {
            throw node.error("expected a date such as 2026-01-01, found '\(text)'")
        }
        return day
    }

    private func number(_ node: YAMLValue) throws(ConfigurationError) -> Double {
        let text = try node.string()
        guard let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite else {
            throw node.error("expected a number, found '\(text)'")
        }
        return value
    }

    package static func hours(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let a = minutes(parts[0]), let b = minutes(parts[1]), a != b else { return nil }
        return (a, b)
    }

    package static func minutes(_ text: String) -> Int? {
        let hm = text.split(separator: ":")
        guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0..<60).contains(m),
            h * 60 + m <= 1440
        else {
            return nil
        }
        return (h * 60 + m) % 1440
    }
}
