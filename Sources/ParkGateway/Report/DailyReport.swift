import Foundation
import Mustache
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// One park's day from the history store, as a self-contained HTML file (and a PDF when a
/// renderer is installed): each regulated station's hourly values against its limits with the
/// exceeding hours shaded, its records' data capture, energy by tariff period, green cover,
/// the day's alerts and the sensors that sent nothing.
public struct DailyReport {
    public let park: String
    /// Local midnight that starts the day, and the next one.
    public let from: Int64
    public let to: Int64
    public let day: String
    package let reader: HistoryReader

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(reader: HistoryReader, park: String, day: String) throws(Failure) {
        let offset = TimeText.offsetText(reader.utcOffsetMinutes)
        guard let start = RFC3339.parse(Array("\(day)T00:00:00\(offset)".utf8)) else {
            throw Failure(description: "expected a day such as 2026-11-23, found '\(day)'")
        }
        self.reader = reader
        self.park = park
        self.day = day
        from = start.milliseconds
        to = start.milliseconds + 86_400_000
    }

    package static func object(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    package static func number(_ value: Double?, digits: Int = 1) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.\(digits)f", value)
    }

    /// Everything the template shows, gathered from the store.
    package func context(generated: EventTime) throws(HistoryReader.Failure) -> [String: Any] {
        let offset = reader.utcOffsetMinutes
        let records = try reader.compliance(rule: nil, park: park, from: from, to: to).compactMap(Self.object)
        // Per station: its records, grouped by rule and period.
        var stations: [String: [[String: Any]]] = [:]
        for record in records {
            let key =
                "\(record["zone"] as? String ?? "")/\(record["pillar"] as? String ?? "")/\(record["kind"] as? String ?? "")/\(record["sensor"] as? String ?? "")"
            stations[key, default: []].append(record)
        }
        var parameters: [[String: Any]] = []
        var exceedingHours = 0
        var exceedingDays = 0
        for key in stations.keys.sorted() {
            let list = stations[key]!
            let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            var rules: [[String: Any]] = []
            var grouped: [String: [[String: Any]]] = [:]
            for r in list {
                grouped["\(r["rule"] as? String ?? "")\u{0}\(r["period"] as? String ?? "")", default: []].append(r)
            }
            var chart = ReportChart(hours: Array(repeating: .init(), count: 24))
            var hourly = false
            for groupKey in grouped.keys.sorted() {
                let group = grouped[groupKey]!
                let first = group[0]
                let period = first["period"] as? String ?? ""
                let exceeded = group.filter { $0["exceeded"] as? Bool == true }.count
                let valid = group.filter { $0["valid"] as? Bool == true }.count
                let covered = group.reduce(0) { $0 + ($1["covered"] as? Int ?? 0) }
                let partsTotal = group.reduce(0) { $0 + ($1["parts"] as? Int ?? 0) }
                let limit = (first["limit"] as? Double) ?? (first["lower_limit"] as? Double)
                // Only valid periods stand as figures; an invalid hour's value is not a measurement
                // of the hour.
                let values = group.filter { $0["valid"] as? Bool == true }.compactMap { $0["value"] as? Double }
                let silent = group.filter { ($0["samples"] as? Int ?? 0) == 0 }.count
                // Capture over every period the rule was in force: silent hours are written as
                // records (capture 0), so they count against it.
                if period == "1h" { exceedingHours += exceeded }
                if period == "24h" { exceedingDays += exceeded }
                rules.append([
                    "rule": first["rule"] as? String ?? "", "reference": first["reference"] as? String ?? "",
                    "period": period == "24h" ? "day" : period, "limit": Self.number(limit, digits: 1),
                    "periods": group.count, "valid": valid, "exceeded": exceeded,
                    "invalid": group.count - valid, "silent": silent,
                    "capture": partsTotal > 0
                        ? String(format: "%.0f %%", 100 * Double(covered) / Double(partsTotal)) : "–",
                    "value": period == "1h" || period == "8h"
                        ? "max of valid \(Self.number(values.max()))" : Self.number(values.first),
                ])
                for r in group where period == "1h" {
                    guard let start = (r["from"] as? String).flatMap({ RFC3339.parse(Array($0.utf8)) }) else {
                        continue
                    }
                    let h = Int((start.milliseconds - from) / 3_600_000)
                    guard (0..<24).contains(h) else { continue }
                    hourly = true
                    chart.hours[h].value = r["value"] as? Double
                    chart.hours[h].limit = limit
                    chart.hours[h].exceeded = chart.hours[h].exceeded || r["exceeded"] as? Bool == true
                    chart.hours[h].valid = r["valid"] as? Bool == true
                    chart.hours[h].silent = (r["samples"] as? Int ?? 0) == 0
                }
                if period == "24h" { chart.dayLimit = limit }
            }
            // Stations judged by the day only: their hourly means from the rollups.
            if !hourly, parts.count == 4, let pillar = Pillar(rawValue: parts[1]) {
                let id = SeriesID(park: park, zone: parts[0], pillar: pillar, kind: parts[2], sensor: parts[3])
                for r in try reader.rollups(
                    matching: SeriesMatcher(
                        park: id.park, zone: id.zone, pillar: id.pillar, kind: id.kind, sensor: id.sensor),
                    from: from, to: to, resolution: 3_600_000)
                {
                    let h = Int((r.start - from) / 3_600_000)
                    if (0..<24).contains(h) { chart.hours[h].value = r.leq ?? r.mean }
                }
            }
            parameters.append([
                "zone": parts.first ?? "", "kind": parts.count > 2 ? parts[2] : "", "sensor": parts.last ?? "",
                "rules": rules, "chart": chart.context(unit: ""),
            ])
        }
        // Energy and green: the day's summary line.
        let dayLines = try reader.summaryLines(period: "1d", from: from, to: to).compactMap(Self.object)
        var energy: [String: Any]?
        var green: [String: Any]?
        for line in dayLines {
            for entry in line["parks"] as? [[String: Any]] ?? [] where entry["park"] as? String == park {
                switch entry["pillar"] as? String {
                case "energy":
                    let tariff = entry["tariff_kwh"] as? [String: Double] ?? [:]
                    energy = [
                        "consumption": Self.number(entry["energy_kwh"] as? Double),
                        "gridImport": Self.number(entry["grid_import_kwh"] as? Double),
                        "gridExport": Self.number(entry["grid_export_kwh"] as? Double),
                        "pv": Self.number(entry["pv_kwh"] as? Double),
                        "share": (entry["renewable_share"] as? Double).map { String(format: "%.1f %%", $0 * 100) }
                            ?? "–",
                        "peak": Self.number(entry["peak_demand_15m_kw"] as? Double),
                        "tariff": ["peak", "normal", "off_peak"].map {
                            ["period": $0, "kwh": Self.number(tariff[$0])]
                        },
                        "estimated": entry["peak_demand_estimated"] as? Bool == true,
                        "schedules": (entry["tariff_schedules"] as? [[String: Any]] ?? []).map {
                            [
                                "id": $0["id"] as? String ?? "", "source": $0["source"] as? String ?? "",
                                "confirmed": $0["confirmed"] as? Bool == true,
                            ] as [String: Any]
                        },
                    ]
                    if let why = entry["renewable_share_missing"] as? String { energy?["shareMissing"] = why }
                case "green":
                    let met = entry["green_target_met"] as? Bool
                    green = [
                        "area": Self.number(entry["green_area_m2"] as? Double, digits: 0),
                        "coverage": (entry["green_coverage"] as? Double).map { String(format: "%.1f %%", $0 * 100) }
                            ?? "–",
                        "target": (entry["green_target"] as? Double).map { String(format: "%.0f %%", $0 * 100) } ?? "–",
                        "met": met == true, "metText": met.map { $0 ? "yes" : "no" } ?? "–",
                    ]
                default: break
                }
            }
        }
        let alerts = try reader.lines(alertsFrom: from, to: to).compactMap(Self.object).filter {
            $0["park"] as? String == park
        }.map { a -> [String: Any] in
            [
                "time": String((a["at"] as? String ?? "").dropFirst(11).prefix(8)),
                "state": a["state"] as? String ?? "",
                "severity": a["severity"] as? String ?? "", "rule": a["rule"] as? String ?? "",
                "message": a["message"] as? String ?? "",
            ]
        }
        let (all, reporting) = try reader.series(park: park, from: from, to: to)
        let missing = all.filter { !reporting.contains($0) }.map(\.description)
        var context: [String: Any] = [
            "park": park, "day": day, "offset": TimeText.offsetText(offset),
            "generated": String(RFC3339.format(generated, offsetMinutes: offset).prefix(19)),
            "source": "the gateway's history store", "stations": parameters.count, "parameters": parameters,
            "exceedingHours": exceedingHours, "exceedingDays": exceedingDays, "alerts": alerts,
            "alertCount": alerts.count, "hasAlerts": !alerts.isEmpty, "missing": missing,
            "missingCount": missing.count, "hasMissing": !missing.isEmpty,
        ]
        if let energy { context["energy"] = energy }
        if let green { context["green"] = green }
        return context
    }

    /// The report as one HTML document.
    public func html(generated: EventTime) throws(Failure) -> String {
        do {
            let library = MustacheLibrary(templates: [
                "report": try MustacheTemplate(string: ReportTemplates.report),
                "chart": try MustacheTemplate(string: ReportTemplates.chart),
            ])
            let context = try context(generated: generated)
            return library.render(context, withTemplate: "report") ?? ""
        } catch let error as HistoryReader.Failure {
            throw Failure(description: error.description)
        } catch {
            throw Failure(description: "report template: \(error)")
        }
    }

    /// Writes `report-PARK-DAY.html` into `folder`, and the PDF beside it when Chromium is
    /// installed (`pdf: true`); returns the paths written and why a PDF was not.
    public func write(to folder: String, pdf: Bool, generated: EventTime) throws(Failure) -> (
        html: String, pdf: String?, note: String?
    ) {
        let text = try html(generated: generated)
        let base = "\(folder)/report-\(park)-\(day)"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try AtomicFile.write(Array(text.utf8), to: base + ".html")
        } catch {
            throw Failure(description: "cannot write \(base).html: \(error)")
        }
        guard pdf else { return (base + ".html", nil, nil) }
        guard let chromium = PDFRenderer.chromium() else {
            return (base + ".html", nil, "no PDF: chromium is not installed (apt-get install chromium)")
        }
        if let problem = PDFRenderer.render(html: base + ".html", pdf: base + ".pdf", chromium: chromium) {
            return (base + ".html", nil, "no PDF: \(problem)")
        }
        return (base + ".html", base + ".pdf", nil)
    }
}

/// Prints HTML to PDF with Debian's Chromium, headless, offline.
package enum PDFRenderer {
    package static func chromium() -> String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// nil on success, else what went wrong.
    package static func render(html: String, pdf: String, chromium: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        let profile = NSTemporaryDirectory() + "parkd-chromium-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            // JIT off: the report needs no fast script, and the systemd unit forbids writable code pages.
            // No script of the page's runs: its CSP (`default-src 'none'`) forbids them. Chromium's
            // own switch for that (`--blink-settings=scriptEnabled=false`) stops print-to-pdf.
            "--js-flags=--jitless", "--user-data-dir=\(profile)", "--no-pdf-header-footer", "--print-to-pdf=\(pdf)",
            URL(fileURLWithPath: html).absoluteString,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "cannot start \(chromium): \(error)"
        }
        let deadline = Date(timeIntervalSinceNow: 60)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            process.terminate()
            // SIGTERM, then SIGKILL after a grace period: a hung renderer must not outlive the report.
            let grace = Date(timeIntervalSinceNow: 5)
            while process.isRunning && Date() < grace { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            return "\(chromium) did not finish within 60 s"
        }
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: pdf) else {
            return "\(chromium) exited \(process.terminationStatus)"
        }
        return nil
    }
}
