import ParkConfig
import ParkIngest
import TelemetryCore

/// The sensor figures in Prometheus' text exposition format (0.0.4), so a Prometheus and its
/// Grafana read what parkd holds without a second consumer on the topics:
/// - per series, its last reading and that reading's time, and the mean of each chosen window,
///   named by the catalog unit in base-unit words (`parkd_sensor_celsius`, `_kilowatt_hours`,
///   `_decibels`; percentages become `_ratio`, 0 to 1), labelled park, zone, pillar, kind, sensor;
/// - per park and pillar, the latest summary's figures (energy by tariff period, peak demand,
///   renewable share, green cover);
/// - per regulated station and rule, the latest compliance record (value, limit, exceeded,
///   capture);
/// - the firing alerts, as Prometheus' own `ALERTS` series are shaped (`parkd_alerts`).
/// Built from figures read under the ingest lock a chunk of series at a time, formatted outside it.
package struct SensorExposition {
    package var settings: SensorMetricsConfiguration
    /// Window names in their configured order.
    package var windows: [String]

    package struct Output {
        package var text: String
        package var exposed: Int
        package var dropped: Int
    }

    /// The unit's words in a metric name and the factor its values take there.
    package static func unitName(_ unit: String?) -> (name: String, scale: Double) {
        guard let unit else { return ("value", 1) }  // a kind outside the catalog: no unit known
        switch unit {
        case "ug/m3": return ("micrograms_per_cubic_meter", 1)
        case "mg/Nm3": return ("milligrams_per_normal_cubic_meter", 1)
        case "mg/L": return ("milligrams_per_liter", 1)
        case "ppm": return ("parts_per_million", 1)
        case "dBA": return ("decibels", 1)
        case "degC": return ("celsius", 1)
        case "kW": return ("kilowatts", 1)
        case "kWh": return ("kilowatt_hours", 1)
        case "m3/h": return ("cubic_meters_per_hour", 1)
        case "m3": return ("cubic_meters", 1)
        case "m2": return ("square_meters", 1)
        case "pH": return ("ph", 1)
        case "%": return ("ratio", 0.01)
        case "": return ("ratio", 1)
        default:
            // A unit of a catalog entry the configuration added: its ASCII letters and digits
            // (a metric name allows nothing else), `per` for `/`.
            var words: [String] = []
            var word = ""
            for b in unit.lowercased().utf8 {
                if (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) {
                    word.append(Character(UnicodeScalar(b)))
                } else {
                    if !word.isEmpty { words.append(word) }
                    word = ""
                    if b == UInt8(ascii: "/") { words.append("per") }
                }
            }
            if !word.isEmpty { words.append(word) }
            return words.isEmpty ? ("value", 1) : (words.joined(separator: "_"), 1)
        }
    }

    /// A label value as the format requires: backslash, double quote and line feed escaped.
    package static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var out = ""
        out.reserveCapacity(value.utf8.count + 4)
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A sample value: Go's float syntax, which Prometheus parses (`+Inf`, `NaN`).
    package static func number(_ v: Double) -> String {
        v.isFinite ? JSONLine.number(v) : v.isNaN ? "NaN" : v > 0 ? "+Inf" : "-Inf"
    }

    static func labels(_ id: SeriesID) -> String {
        "park=\"\(escape(id.park))\",zone=\"\(escape(id.zone))\",pillar=\"\(id.pillar.rawValue)\",kind=\"\(escape(id.kind))\",sensor=\"\(escape(id.sensor))\""
    }

    /// Metric families in the order they were first written; each family's samples together.
    struct Families {
        var order: [String] = []
        var heads: [String: (type: String, help: String)] = [:]
        var samples: [String: [String]] = [:]

        mutating func add(_ name: String, _ type: String, _ help: String, _ labels: String, _ value: Double) {
            if heads[name] == nil {
                order.append(name)
                heads[name] = (type, help)
            }
            let series = labels.isEmpty ? name : "\(name){\(labels)}"
            samples[name, default: []].append("\(series) \(SensorExposition.number(value))")
        }

        var text: String {
            var out = ""
            for name in order {
                let (type, help) = heads[name]!
                out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
                for line in samples[name]! { out += line + "\n" }
            }
            return out
        }
    }

    /// The windows shown (all, or `prometheus.windows`), by index in the configured order.
    var chosen: [Int] {
        settings.windows.map { names in windows.indices.filter { names.contains(windows[$0]) } }
            ?? Array(windows.indices)
    }

    /// What `build` shows of `pipeline`'s series: at most `prometheus.max_series`, in identity
    /// order when capped (the cap keeps the same ones from scrape to scrape).
    package func view(of pipeline: IngestPipeline) -> IngestPipeline.SensorView {
        pipeline.sensorView(windows: chosen, limit: settings.maxSeries)
    }

    package func build(
        series view: IngestPipeline.SensorView, parks: [(interval: String, park: ParkSummary)],
        compliance: [ComplianceRecord],
        alerts: [(rule: String, severity: Severity, series: SeriesID, since: EventTime)]
    ) -> Output {
        var f = Families()
        let units = view.kinds.map { Self.unitName($0?.unit) }
        for series in view.series {
            let (unit, scale) = units[Int(series.kind)]
            let labels = Self.labels(series.id)
            if let last = series.last {
                f.add(
                    "parkd_sensor_\(unit)", "gauge", "Last reading of each series, in \(unit)", labels,
                    last.value * scale)
                f.add(
                    "parkd_sensor_last_timestamp_seconds", "gauge", "Time of each series' last reading", labels,
                    last.time.seconds)
            }
            for (window, mean) in series.means {
                f.add(
                    "parkd_sensor_window_mean_\(unit)", "gauge",
                    "Mean of each configured window at the series' newest reading, in \(unit)",
                    labels + ",window=\"\(Self.escape(window))\"", mean * scale)
            }
        }
        for (interval, park) in parks {
            let labels =
                "park=\"\(Self.escape(park.park))\",pillar=\"\(park.pillar.rawValue)\",interval=\"\(Self.escape(interval))\""
            if let kwh = park.energyKWh {
                f.add("parkd_park_energy_kilowatt_hours", "gauge", "Energy of the latest summary interval", labels, kwh)
            }
            for (period, kwh) in (park.tariffKWh ?? [:]).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                f.add(
                    "parkd_park_tariff_energy_kilowatt_hours", "gauge",
                    "Energy of the latest summary interval by tariff period", labels + ",period=\"\(period.rawValue)\"",
                    kwh)
            }
            if let kw = park.peakDemandKW {
                f.add(
                    "parkd_park_peak_demand_kilowatts", "gauge", "Peak 15-minute demand of the latest summary interval",
                    labels, kw)
            }
            if let share = park.renewableShare {
                f.add(
                    "parkd_park_renewable_share_ratio", "gauge", "Renewable share of the latest summary interval",
                    labels, share)
            }
            if let cover = park.greenCoverage {
                f.add("parkd_park_green_cover_ratio", "gauge", "Green area over park area", labels, cover)
            }
        }
        // The latest record of each (rule, station, averaging period).
        var latest: [String: ComplianceRecord] = [:]
        for record in compliance {
            latest["\(record.rule)|\(record.series)|\(record.closed.period.rawValue)"] = record
        }
        for (_, record) in latest.sorted(by: { $0.key < $1.key }) {
            let labels =
                Self.labels(record.series)
                + ",rule=\"\(Self.escape(record.rule))\",period=\"\(record.closed.period.rawValue)\""
            if let value = record.closed.value {
                f.add(
                    "parkd_compliance_value", "gauge",
                    "Value of the latest closed compliance period, in the rule's unit",
                    labels, value)
            }
            f.add("parkd_compliance_limit", "gauge", "Limit in force for that period", labels, record.limit)
            f.add(
                "parkd_compliance_exceeded", "gauge", "1 when that period exceeded its limit", labels,
                record.exceeded ? 1 : 0)
            f.add(
                "parkd_compliance_capture_ratio", "gauge", "Data capture of that period", labels, record.closed.capture)
            f.add(
                "parkd_compliance_period_end_timestamp_seconds", "gauge", "End of that period", labels,
                record.closed.end.seconds)
        }
        for alert in alerts.sorted(by: { ($0.rule, $0.series) < ($1.rule, $1.series) }) {
            f.add(
                "parkd_alerts", "gauge", "Alerts firing now, shaped as Prometheus' ALERTS",
                "alertname=\"\(Self.escape(alert.rule))\",alertstate=\"firing\",severity=\"\(alert.severity.rawValue)\","
                    + Self.labels(alert.series), 1)
        }
        // Dropped: past the cap only (a series evicted during the scrape is neither).
        let exposed = view.series.count
        let dropped = view.total - min(view.total, settings.maxSeries)
        f.add(
            "parkd_sensor_exposition_series", "gauge", "Series exposed here (at most prometheus.max_series)", "",
            Double(exposed))
        f.add(
            "parkd_sensor_exposition_dropped_series", "gauge", "Series left out past prometheus.max_series", "",
            Double(dropped))
        return Output(text: f.text, exposed: exposed, dropped: dropped)
    }
}
