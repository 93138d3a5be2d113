import BrokerHarness
import Foundation
import TelemetryCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Regulatory figures with known answers, each computed by hand in its comment and replayed
/// through `parkd replay` with the shipped rule packs and tariff files.
@Suite("Compliance figures an auditor signs, from known feeds")
struct ComplianceReplayTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy").path
    /// 2026-11-23T00:00:00+07:00, a Monday.
    static let monday = Int64(1_795_366_800)

    struct Output {
        var summaries: [[String: Any]]
        var compliance: [[String: Any]]
        var alerts: [[String: Any]]
        var log: String
    }

    /// Replays `feed` (arrival time in epoch seconds, topic, value) with `config` and reads the outputs.
    func replay(_ config: String, _ feed: [(Int64, String, Double)], name: String = #function) throws -> Output {
        let directory = try Scratch.makeDirectory(prefix: "compliance")
        defer { try? FileManager.default.removeItem(at: directory) }
        try ("broker: {url: mqtt://127.0.0.1}\n" + config).write(
            to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        var text = ""
        for (time, topic, value) in feed {
            let payload = #"{"value": \#(value), "ts": \#(time)}"#
            text +=
                FeedRecord(time: EventTime(milliseconds: time * 1000), topic: topic, payload: Array(payload.utf8)).line
            text += "\n"
        }
        try text.write(to: directory.appendingPathComponent("feed.jsonl"), atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("replay.log").path
        let process = try ChildProcess(
            try BuiltProduct.path("parkd"),
            [
                "replay", directory.appendingPathComponent("feed.jsonl").path, "--config",
                directory.appendingPathComponent("parkd.yaml").path, "--out",
                directory.appendingPathComponent("out").path,
            ], outputPath: output)
        let status = process.wait()
        let log = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(log)")
        func lines(_ file: String) throws -> [[String: Any]] {
            let path = directory.appendingPathComponent("out/\(file)").path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
            return try text.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }
        return Output(
            summaries: try lines("summaries.jsonl"), compliance: try lines("compliance.jsonl"),
            alerts: try lines("alerts.jsonl"), log: log)
    }

    func pack(_ name: String) -> String { "\(Self.deploy)/rules/\(name)" }

    /// The park's pillar figures in the summary of `period` starting at local `from` (e.g. "2026-11-23T21").
    func park(_ output: Output, _ period: String, _ from: String, _ pillar: String) throws -> [String: Any] {
        let line = try #require(
            output.summaries.first {
                $0["period"] as? String == period && ($0["from"] as? String)?.hasPrefix(from) == true
            },
            "no \(period) summary from \(from)")
        return try #require((line["parks"] as? [[String: Any]])?.first { $0["pillar"] as? String == pillar })
    }

    @Test("LAeq: 50 minutes at 55 dBA and 10 at 80 make the 10:00 hour 72.3 dBA, over the 70 dBA day limit")
    func laeqHour() throws {
        // 10:00–10:59 one reading a minute, then one at 11:00 to close the hour.
        var feed: [(Int64, String, Double)] = []
        for minute in 0...60 {
            feed.append(
                (
                    Self.monday + 10 * 3600 + Int64(minute) * 60, "parks/p/z/emissions/noise/n1",
                    minute < 50 || minute == 60 ? 55 : 80
                ))
        }
        let out = try replay(
            "rule_files: [\(pack("qcvn26-2010-noise.yaml"))]\nparks: {p: {zones: {z: ordinary}}}\n", feed)
        // LAeq = 10·log10((50·10^5.5 + 10·10^8) / 60) = 10·log10(16 930 190) = 72.29 dBA; the
        // arithmetic mean (50·55 + 10·80) / 60 = 59.2 would pass.
        let hour = try #require(out.compliance.first { $0["from"] as? String == "2026-11-23T10:00:00.000+07:00" })
        #expect(hour["rule"] as? String == "qcvn26-noise-day" && hour["limit"] as? Double == 70)
        #expect(abs((hour["value"] as? Double ?? 0) - 72.3) < 0.05 && hour["exceeded"] as? Bool == true)
        #expect(hour["valid"] as? Bool == true && hour["capture"] as? Double == 1 && hour["samples"] as? Int == 60)
        #expect(out.alerts.first?["rule"] as? String == "qcvn26-noise-day")
        // The park's noise figure for the hour is the LAeq too.
        let means = try #require(try park(out, "1h", "2026-11-23T10:00", "emissions")["means"] as? [String: Double])
        #expect(abs((means["noise"] ?? 0) - 72.29) < 0.01)
    }

    @Test("60 dBA from 20:00 to 22:00: the 21:00 hour exceeds the 55 dBA night limit, the 20:00 hour is within 70")
    func nightHour() throws {
        var feed: [(Int64, String, Double)] = []
        for minute in 0...120 {
            feed.append((Self.monday + 20 * 3600 + Int64(minute) * 60, "parks/p/z/emissions/noise/n1", 60))
        }
        let out = try replay(
            "rule_files: [\(pack("qcvn26-2010-noise.yaml"))]\nparks: {p: {zones: {z: ordinary}}}\n", feed)
        // Each clock hour is judged against the limit of the period holding its start:
        // 20:00–21:00 by day (70 dBA), 21:00–22:00 by night (55 dBA).
        let records = out.compliance.map {
            "\(($0["from"] as! String).dropFirst(11).prefix(5)) \($0["rule"]!) \($0["limit"]!) \($0["exceeded"]!)"
        }
        #expect(records == ["20:00 qcvn26-noise-day 70 0", "21:00 qcvn26-noise-night 55 1"], "\(records)")
        // The rolling night alert waits until its whole hour lies in the night (21:00–21:45 buckets
        // at 21:45), instead of firing at 21:05 on an hour that is mostly evening.
        let alerts = out.alerts.map { "\($0["rule"]!) \(($0["at"] as! String).dropFirst(11).prefix(5))" }
        #expect(alerts == ["qcvn26-noise-night 21:45"], "\(alerts)")
        // The hour closes once the lateness (5 min) has passed, so its tally is in the summary
        // line after the hour's own: here the feed's last line, from 22:00.
        let night = try park(out, "1h", "2026-11-23T22:00", "emissions")
        let tally = try #require((night["compliance"] as? [[String: Any]])?.first)
        #expect(tally["rule"] as? String == "qcvn26-noise-night" && tally["exceeded"] as? Int == 1)
    }

    @Test("a calendar day's PM2.5 mean, not the rolling 24 h mean, decides whether the day exceeded")
    func calendarDay() throws {
        // Monday 40 µg/m³ all day; Tuesday 80 from 00:00 to 06:00, then 30; a reading every 15 min.
        var feed: [(Int64, String, Double)] = []
        for quarter in 0...(2 * 96) {
            let hour = quarter / 4
            let value: Double = hour < 24 ? 40 : (hour < 30 ? 80 : 30)
            feed.append((Self.monday + Int64(quarter) * 900, "parks/p/z/emissions/pm25/aq-1", value))
        }
        let out = try replay("rule_files: [\(pack("qcvn05-2023-ambient-air.yaml"))]\n", feed)
        // The rolling 24 h mean passes 45 early on Tuesday: at 05:00 it holds Monday 05:00–24:00
        // at 40 and Tuesday 00:00–05:00 at 80: (19·40 + 5·80) / 24 = 48.3.
        #expect(out.alerts.first?["rule"] as? String == "qcvn05-pm25-24h")
        // Tuesday's calendar mean is (6·80 + 18·30) / 24 = 42.5 and Monday's 40: no day exceeded.
        let days = out.compliance.filter { $0["period"] as? String == "24h" }
        #expect(days.map { $0["value"] as? Double } == [40, 42.5])
        #expect(days.allSatisfy { $0["exceeded"] as? Bool == false && $0["limit"] as? Double == 45 })
        #expect(days.allSatisfy { $0["valid"] as? Bool == true && $0["covered"] as? Int == 24 })
    }

    @Test("a year of daily means against the QCVN 05 annual PM2.5 limit of 25 µg/m³")
    func annualMean() throws {
        // Calendar 2025 (local): 219 days at 30 µg/m³, then 146 at 20, a reading every 15 min;
        // one reading on 2026-01-01 closes the year. Annual mean of daily means:
        // (219·30 + 146·20) / 365 = (6570 + 2920) / 365 = 26.0 > 25.
        let start = Int64(1_735_664_400)  // 2025-01-01T00:00:00+07:00
        var feed: [(Int64, String, Double)] = []
        for quarter in 0..<(365 * 96) {
            feed.append((start + Int64(quarter) * 900, "parks/p/z/emissions/pm25/aq-1", quarter / 96 < 219 ? 30 : 20))
        }
        feed.append((start + 365 * 86400 + 900, "parks/p/z/emissions/pm25/aq-1", 20))
        let out = try replay(
            "rule_files: [\(pack("qcvn05-2023-ambient-air.yaml"))]\nsummaries: {intervals: [1d]}\n", feed)
        let year = try #require(out.compliance.first { $0["period"] as? String == "year" }, "\(out.log)")
        #expect(year["rule"] as? String == "qcvn05-pm25-year" && year["limit"] as? Double == 25)
        #expect(abs((year["value"] as? Double ?? 0) - 26) < 1e-9 && year["exceeded"] as? Bool == true)
        #expect(year["covered"] as? Int == 365 && year["parts"] as? Int == 365 && year["valid"] as? Bool == true)
        #expect(year["from"] as? String == "2025-01-01T00:00:00.000+07:00")
        // 2025's days are judged on the 50 µg/m³ limit then in force (45 only from 2026-01-01).
        let days = out.compliance.filter { $0["period"] as? String == "24h" }
        #expect(
            days.count == 365 && days.allSatisfy { $0["limit"] as? Double == 50 && $0["exceeded"] as? Bool == false })
    }

    @Test("QCVN 40 column B COD at the outlet with Kq 0.9 and Kf 0.9: the limit is 150 × 0.81 = 121.5 mg/L")
    func wastewaterCoefficients() throws {
        // 130 mg/L for an hour at the outlet (over 121.5) and at a factory's sensor (not the outlet).
        var feed: [(Int64, String, Double)] = []
        for minute in 0...60 {
            let t = Self.monday + 8 * 3600 + Int64(minute) * 60
            feed.append((t, "parks/p/wwtp/emissions/ww_cod/outlet-1", 130))
            feed.append((t, "parks/p/factory-a/emissions/ww_cod/f-1", 130))
            feed.append((t, "parks/q/wwtp/emissions/ww_cod/outlet-1", 130))
        }
        let out = try replay(
            """
            rule_files: [\(pack("qcvn40-2011-wastewater-b.yaml"))]
            parks: {p: {wastewater: {zone: wwtp, kq: 0.9, kf: 0.9}}}
            """, feed)
        let cod = out.compliance.filter { $0["rule"] as? String == "qcvn40b-cod" }
        let seen = cod.map { "\($0["park"]!)/\($0["sensor"]!) \($0["limit"]!) \($0["exceeded"]!)" }
        // Park p: only its outlet, at C × Kq × Kf = 121.5. Park q declares no outlet: QCVN 40 judges
        // nothing there (before, C = 150 at every ww_cod sensor of it).
        #expect(seen == ["p/outlet-1 121.5 1"], "\(seen)")
        let alert = try #require(out.alerts.first { $0["rule"] as? String == "qcvn40b-cod" })
        #expect(
            alert["park"] as? String == "p" && alert["sensor"] as? String == "outlet-1"
                && alert["limit"] as? Double == 121.5)
    }

    @Test("a constant 100 kW load over a week, split into the 2026 time-of-use periods, weekday and Sunday")
    func tariffWeek() throws {
        // A grid meter read every 20 minutes from Monday 00:00 to the next Monday 00:20:
        // 100 kW × 20 min = 33.3 kWh a reading.
        var feed: [(Int64, String, Double)] = []
        for step in 0...(7 * 72 + 1) {
            feed.append((Self.monday + Int64(step) * 1200, "parks/p/grid/energy/energy/m-1", Double(step) * 100.0 / 3))
        }
        let out = try replay(
            "tariffs: \(Self.deploy)/tariffs/evn-2026-reported.yaml\nsummaries: {intervals: [1h, 1d]}\n", feed)
        // Monday–Saturday: peak 17:30–22:30 (5 h = 500 kWh), off-peak 00:00–06:00 (600 kWh), the
        // other 13 h normal (1 300 kWh). Sunday: no peak, off-peak 600, normal 18 h = 1 800.
        // 17:30 and 22:30 fall inside a reading interval (17:20→17:40): its increment is split
        // 10 minutes each side. (A day's line holds the previous day's 23:40→24:00 increment,
        // read at 00:00, and not its own: both normal, so the figures are the day's own.)
        // Monday has no earlier reading, so the days are checked from Tuesday.
        for (day, expected) in [
            ("24", [500.0, 1300, 600]), ("25", [500, 1300, 600]), ("26", [500, 1300, 600]),
            ("27", [500, 1300, 600]), ("28", [500, 1300, 600]), ("29", [0, 1800, 600]),
        ] {
            let energy = try park(out, "1d", "2026-11-\(day)T00:00", "energy")
            let tariff = try #require(energy["tariff_kwh"] as? [String: Double])
            let got = [tariff["peak"] ?? .nan, tariff["normal"] ?? .nan, tariff["off_peak"] ?? .nan]
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "2026-11-\(day): \(tariff)")
            #expect(abs((energy["energy_kwh"] as? Double ?? 0) - 2400) < 1e-6)
            // Every clock-aligned quarter holds 25 kWh: 100 kW.
            #expect(abs((energy["peak_demand_15m_kw"] as? Double ?? 0) - 100) < 1e-6)
        }
        // Tuesday 17:00–18:00: read at 17:00 (16:40→17:00) and 17:20 normal, 17:40 half and half:
        // normal 33.3 + 33.3 + 16.7 = 83.3, peak 16.7 (17:40→18:00 is read in the next hour).
        let hour = try #require(try park(out, "1h", "2026-11-24T17:00", "energy")["tariff_kwh"] as? [String: Double])
        #expect(abs(hour["peak"]! - 50.0 / 3) < 1e-9 && abs(hour["normal"]! - 250.0 / 3) < 1e-9)
    }

    @Test("grid import, PV and export: consumption, a renewable share below 1, and 15-minute demand from kWh")
    func energyBalance() throws {
        // One hour (10:00–11:00 Monday), readings every 5 minutes from 10:00 to 11:00.
        // Import 300 kWh (quarters: 60, 150, 60, 30), PV 200 kWh, export 50 kWh, a sub-meter 40.
        let importQuarters: [Double] = [60, 150, 60, 30]
        var imported = 0.0
        var pv = 0.0
        var exported = 0.0
        var sub = 0.0
        var feed: [(Int64, String, Double)] = []
        for step in 0...12 {
            let t = Self.monday + 10 * 3600 + Int64(step) * 300
            if step > 0 {
                imported += importQuarters[(step - 1) / 3] / 3
                pv += 200.0 / 12
                exported += 50.0 / 12
                sub += 40.0 / 12
            }
            feed.append((t, "parks/p/grid/energy/energy/imp", imported))
            feed.append((t, "parks/p/grid/energy/energy/exp", exported))
            feed.append((t, "parks/p/roof/energy/pv_energy/pv-1", pv))
            feed.append((t, "parks/p/hall/energy/energy/sub-1", sub))
        }
        // Daily lines: the replay's last line runs to the 11:00 reading, so it holds every increment.
        let out = try replay(
            """
            summaries: {intervals: [1d]}
            expected_sensors:
              - {park: p, zone: grid, pillar: energy, kind: energy, sensor: imp, role: grid_import}
              - {park: p, zone: grid, pillar: energy, kind: energy, sensor: exp, role: grid_export}
              - {park: p, zone: roof, pillar: energy, kind: pv_energy, sensor: pv-1, role: pv}
              - {park: p, zone: hall, pillar: energy, kind: energy, sensor: sub-1, role: sub_meter}
            """, feed)
        let energy = try park(out, "1d", "2026-11-23T10:00", "energy")
        func figure(_ key: String) -> Double { energy[key] as? Double ?? .nan }
        // Consumption = import + PV − export = 300 + 200 − 50 = 450 (the sub-meter's 40 is inside it).
        #expect(abs(figure("energy_kwh") - 450) < 1e-9 && abs(figure("sub_metered_kwh") - 40) < 1e-9)
        // Renewable share = PV used on site / consumption = (200 − 50) / 450 = 1/3.
        #expect(abs(figure("renewable_share") - 1.0 / 3) < 1e-12)
        // Demand: the largest clock-aligned quarter at the grid connection, 150 kWh × 4 = 600 kW.
        #expect(abs(figure("peak_demand_15m_kw") - 600) < 1e-9)
        // A park whose meters did not report gives null, not 0.
        let quiet = try replay(
            "summaries: {intervals: [1h]}\n",
            [
                (Self.monday + 10 * 3600, "parks/p/grid/energy/active_power/x", 5),
                (Self.monday + 11 * 3600 + 1, "parks/p/grid/energy/active_power/x", 5),
            ])
        let line = try park(quiet, "1h", "2026-11-23T10:00", "energy")
        #expect(line["energy_kwh"] is NSNull)
        // The split names its schedule: none configured, EVN 2014, not marked confirmed (Circular
        // 60/2025/TT-BCT now governs time of use; its hours are not confirmed here).
        let schedules = try #require(energy["tariff_schedules"] as? [[String: Any]])
        #expect(schedules.count == 1 && schedules[0]["id"] as? String == "evn-2014")
        #expect(
            schedules[0]["confirmed"] as? Bool == false
                && (schedules[0]["source"] as? String)?.contains("60/2025") == true)
        // Meters read every 5 minutes: the demand is measured, not estimated.
        #expect(energy["peak_demand_estimated"] == nil)
    }

    @Test("PV with no export meter: the renewable share is null with its reason, unless the park is zero-export")
    func missingExport() throws {
        // 10:00–11:00, import 300 kWh and PV 200 kWh, no export meter.
        var feed: [(Int64, String, Double)] = []
        for step in 0...12 {
            let t = Self.monday + 10 * 3600 + Int64(step) * 300
            feed.append((t, "parks/p/grid/energy/energy/imp", Double(step) * 25))
            feed.append((t, "parks/p/roof/energy/pv_energy/pv-1", Double(step) * 200 / 12))
        }
        let roles = """
            summaries: {intervals: [1d]}
            expected_sensors:
              - {park: p, zone: grid, pillar: energy, kind: energy, sensor: imp, role: grid_import}
              - {park: p, zone: roof, pillar: energy, kind: pv_energy, sensor: pv-1, role: pv}

            """
        let unknown = try park(try replay(roles, feed), "1d", "2026-11-23T10:00", "energy")
        // Before: export taken as 0, share 200 / 500 = 0.4 whatever the PV sent to the grid.
        #expect(unknown["renewable_share"] is NSNull)
        #expect((unknown["renewable_share_missing"] as? String)?.contains("grid_export") == true)
        // A zero-export installation: consumption 300 + 200 = 500, share 200 / 500 = 0.4.
        let zero = try park(
            try replay(roles + "parks: {p: {zero_export: true}}\n", feed), "1d", "2026-11-23T10:00", "energy")
        #expect(abs((zero["renewable_share"] as? Double ?? 0) - 0.4) < 1e-12 && zero["renewable_share_missing"] == nil)
    }

    @Test("a meter read every 30 minutes: its demand is spread evenly and flagged estimated; the schedule is named")
    func sparseDemand() throws {
        // 10:00, 10:30, 11:00: 100 kWh each half hour, so every quarter gets 50 kWh: 200 kW.
        var feed: [(Int64, String, Double)] = []
        for step in 0...2 {
            feed.append(
                (Self.monday + 10 * 3600 + Int64(step) * 1800, "parks/p/grid/energy/energy/imp", Double(step) * 100))
        }
        let out = try replay(
            """
            summaries: {intervals: [1d]}
            tariffs: \(Self.deploy)/tariffs/evn-2026-reported.yaml
            expected_sensors:
              - {park: p, zone: grid, pillar: energy, kind: energy, sensor: imp, role: grid_import}
            """, feed)
        let energy = try park(out, "1d", "2026-11-23T10:00", "energy")
        #expect(abs((energy["peak_demand_15m_kw"] as? Double ?? 0) - 200) < 1e-9)
        #expect(energy["peak_demand_estimated"] as? Bool == true)
        // 2026-11-23 falls after the reported schedule's 2026-04-22: it alone split the day, unconfirmed.
        let schedules = try #require(energy["tariff_schedules"] as? [[String: Any]])
        #expect(schedules.map { $0["id"] as? String } == ["evn-2026-reported"])
        #expect(schedules[0]["confirmed"] as? Bool == false)
    }
}
