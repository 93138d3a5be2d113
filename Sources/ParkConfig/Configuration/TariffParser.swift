import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `tariffs:` a list of dated time-of-use schedules, or the path of a file holding one
    /// (`tariffs: [...]`). Each: `{name, from: 2026-01-01, source, periods: [{period: peak,
    /// days: mon-sat, hours: "17:30-22:30"}, …]}`; hours not listed are normal.
    package static func tariffs(
        _ node: YAMLValue, file: String, resolve: (String) -> String, offset: Int
    ) throws(ConfigurationError) -> [TariffSchedule] {
        var list = node
        if case .scalar = node.node {
            let path = resolve(try node.nonEmptyString())
            let fields = try readYAMLFile(path, from: node, what: "tariff file", keys: ["tariffs"])
            guard let inner = fields["tariffs"] else {
                throw ConfigurationError(file: path, keyPath: "", message: "no 'tariffs' list")
            }
            list = inner
        }
        var schedules: [TariffSchedule] = []
        for item in try list.list() {
            let f = try item.fields(["name", "from", "source", "confirmed", "periods"])
            guard let name = f["name"], let periods = f["periods"] else {
                throw item.error("a tariff needs a name and its periods (peak and off_peak hours; the rest is normal)")
            }
            var from = EventTime(milliseconds: .min)
            if let node = f["from"] {
                let text = try node.string()
                let offsetText = TimeText.offsetText(offset)
                guard let day = RFC3339.parse(Array("\(text)T00:00:00\(offsetText)".utf8)) else {
                    throw node.error("expected the date the schedule takes effect, such as 2026-01-01, found '\(text)'")
                }
                from = day
            }
            var spans: [TariffSchedule.Span] = []
            for p in try periods.list() {
                let g = try p.fields(["period", "days", "hours"])
                guard let periodNode = g["period"], let hoursNode = g["hours"] else {
                    throw p.error("a tariff period needs period (peak or off_peak) and hours (e.g. 17:30-22:30)")
                }
                let periodText = try periodNode.string()
                guard let period = TariffPeriod(rawValue: periodText), period != .normal else {
                    throw periodNode.error(
                        "expected peak or off_peak (hours not listed are normal), found '\(periodText)'")
                }
                let hoursText = try hoursNode.string()
                guard let (start, end) = RuleParser.hours(hoursText) else {
                    throw hoursNode.error("expected local hours such as 17:30-22:30, found '\(hoursText)'")
                }
                let daysText = try g["days"]?.string() ?? "mon-sun"
                guard let days = weekdays(daysText) else {
                    throw (g["days"] ?? p).error(
                        "expected weekdays such as mon-sat, sun or mon,wed,fri, found '\(daysText)'")
                }
                spans.append(.init(period: period, days: days, start: start, end: end))
            }
            schedules.append(
                TariffSchedule(
                    name: try name.nonEmptyString(), from: from, source: try f["source"]?.string() ?? "",
                    confirmed: try f["confirmed"]?.bool() ?? false, spans: spans))
        }
        guard Set(schedules.map(\.from)).count == schedules.count else {
            throw list.error("two tariff schedules take effect on the same date")
        }
        return schedules
    }

    /// `mon-sat`, `sun`, `mon,wed,fri`, `mon-sun` → bit d for weekday d (0 = Monday).
    package static func weekdays(_ text: String) -> UInt8? {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        var mask: UInt8 = 0
        for part in text.lowercased().split(separator: ",") {
            let ends = part.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
            guard (1...2).contains(ends.count), let a = names.firstIndex(of: ends[0]),
                let b = names.firstIndex(of: ends.last!), a <= b
            else { return nil }
            for d in a...b { mask |= 1 << UInt8(d) }
        }
        return mask == 0 ? nil : mask
    }
}
