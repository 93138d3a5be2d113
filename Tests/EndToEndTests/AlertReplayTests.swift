import BrokerHarness
import Foundation
import TelemetryCore
import Testing

@Suite("Alerts from a feed with known answers")
struct AlertReplayTests {
    /// A day of one PM2.5 sensor crafted to cross the 24 h limit at a known minute, an energy
    /// meter with one reset, and a sensor that goes silent.
    func feed() -> [String] {
        let start = Int64(1_795_366_800_000)  // 2026-11-23T00:00:00+07:00
        var lines: [String] = []
        func add(_ minute: Int, _ topic: String, _ payload: String) {
            let time = EventTime(milliseconds: start + Int64(minute) * 60_000)
            lines.append(FeedRecord(time: time, topic: topic, payload: Array(payload.utf8)).line)
        }
        for minute in 0..<(26 * 60) {
            // 40 µg/m³ for 20 hours, then 80: the 24 h mean passes 45 once (40·1200 + 80·n)/(1200 + n) > 45, n > 171.4.
            let pm = minute < 1200 ? 40 : 80
            add(
                minute, "parks/p/z/emissions/pm25/aq-1",
                #"{"value": \#(pm), "ts": \#((start + Int64(minute) * 60_000) / 1000)}"#)
            let energy = minute < 600 ? 1000 + minute : minute - 600  // replaced at minute 600
            add(
                minute, "parks/p/z/energy/energy/m-1",
                #"{"value": \#(energy), "ts": \#((start + Int64(minute) * 60_000) / 1000)}"#)
            if minute % 60 == 0 {
                add(
                    minute, "parks/p/z/green/green_area/g-1",
                    #"{"value": 120000, "ts": \#((start + Int64(minute) * 60_000) / 1000)}"#)
            }
            if minute < 300 {
                add(
                    minute, "parks/p/z/energy/active_power/m-2",
                    #"{"value": 500, "ts": \#((start + Int64(minute) * 60_000) / 1000)}"#)
            }
        }
        return lines
    }

    func replay(_ directory: URL, _ name: String) throws -> (status: Int32, log: String) {
        let output = directory.appendingPathComponent("\(name).log").path
        let process = try ChildProcess(
            try BuiltProduct.path("parkd"),
            [
                "replay", directory.appendingPathComponent("feed.jsonl").path, "--config",
                directory.appendingPathComponent("parkd.yaml").path, "--summaries",
                directory.appendingPathComponent("\(name)-summaries.jsonl").path, "--alerts",
                directory.appendingPathComponent("\(name)-alerts.jsonl").path,
            ], outputPath: output)
        return (process.wait(), (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test("exactly the expected alerts, at the expected minutes, byte-identical across replays")
    func knownAnswers() throws {
        let directory = try Scratch.makeDirectory(prefix: "alerts")
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        broker: {url: mqtt://127.0.0.1}
        summaries: {intervals: [1h, 1d]}
        parks: {p: {area_m2: 1000000}}
        rules:
          - {id: pm25-24h, description: "PM2.5 24 h mean over 45", severity: critical, reference: "QCVN 05:2023/BTNMT", match: {kind: pm25}, when: {window: 24h, stat: mean, above: 45}}
          - {id: reset, description: "meter went back", severity: info, match: {kind: energy}, counter_reset: {window: 1h}}
          - {id: silent, description: "no data for 30 minutes", match: {kind: active_power}, stale: 30m}
        alerts: {log: alerts.log}
        """.write(to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        try (feed().joined(separator: "\n") + "\n").write(
            to: directory.appendingPathComponent("feed.jsonl"), atomically: true, encoding: .utf8)

        let first = try replay(directory, "a")
        let second = try replay(directory, "b")
        #expect(first.status == 0 && second.status == 0, "\(first.log)")
        let a = try Data(contentsOf: directory.appendingPathComponent("a-alerts.jsonl"))
        let b = try Data(contentsOf: directory.appendingPathComponent("b-alerts.jsonl"))
        #expect(a == b)
        #expect(
            try Data(contentsOf: directory.appendingPathComponent("a-summaries.jsonl"))
                == Data(contentsOf: directory.appendingPathComponent("b-summaries.jsonl")))
        let alerts = try String(decoding: a, as: UTF8.self).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let summary = alerts.map { "\($0["rule"]!) \($0["state"]!) \(($0["at"] as! String).dropFirst(11).prefix(5))" }
        #expect(
            summary == [
                "silent firing 05:29",  // last reading 04:59, silent for 30 minutes (checked every 10 s of feed time)
                "reset firing 10:00",
                "reset resolved 10:45",  // the 1 h window (four quarter hours) no longer holds 09:59 → 10:00
                "pm25-24h firing 22:51",  // the 172nd reading at 80: 20:00 + 171 minutes
            ], "\(summary)")
        let pm = try #require(alerts.first { $0["rule"] as? String == "pm25-24h" })
        #expect(pm["severity"] as? String == "critical" && pm["limit"] as? Double == 45)
        #expect(
            pm["reference"] as? String == "QCVN 05:2023/BTNMT" && pm["window"] as? String == "24h"
                && pm["stat"] as? String == "mean")
        #expect((pm["value"] as? Double).map { $0 > 45 && $0 < 45.2 } == true)
        // The human log sits beside the alerts file given on the command line.
        let log = try String(contentsOf: directory.appendingPathComponent("a-alerts.jsonl.log"), encoding: .utf8)
        let lines = log.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(
            lines.last?.hasPrefix(
                "2026-11-23T22:51:00 FIRING   critical pm25-24h  PM2.5 24 h mean over 45: 24h mean 45.") == true,
            "\(log)")
        #expect(first.log.contains("4 alert lines"), "\(first.log)")

        // Per-park and per-pillar summary figures with known answers.
        let summaries = try String(contentsOf: directory.appendingPathComponent("a-summaries.jsonl"), encoding: .utf8)
            .split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        func park(_ hour: Int, _ pillar: String) throws -> [String: Any] {
            let line = try #require(
                summaries.first {
                    $0["period"] as? String == "1h"
                        && ($0["from"] as? String)?.hasPrefix(String(format: "2026-11-23T%02d:00", hour)) == true
                })
            return try #require((line["parks"] as? [[String: Any]])?.first { $0["pillar"] as? String == pillar })
        }
        #expect(try park(0, "energy")["energy_kwh"] as? Double == 59)  // readings 00:00..00:59, one kWh a minute
        #expect(try park(1, "energy")["energy_kwh"] as? Double == 60)
        // A meter's increment covers [previous reading, this reading]: EVN's peak starts at 09:30,
        // so hour 9's line holds the peak increments read at 09:31…09:59 (29 kWh) and the normal
        // ones read at 09:00…09:30 (31 kWh, 08:59→09:00 included); 09:59→10:00 is read in hour 10.
        func tariff(_ hour: Int) throws -> [String: Double] {
            try #require(try park(hour, "energy")["tariff_kwh"] as? [String: Double])
        }
        let nine = try tariff(9)
        #expect(nine == ["peak": 29, "normal": 31, "off_peak": 0], "\(nine)")
        #expect(try park(10, "energy")["energy_kwh"] as? Double == 59)  // the replaced meter starts again at 0
        #expect(try tariff(10)["peak"] == 59)
        // Demand from clock-aligned 15-minute energy: 1 kWh a minute = 15 kWh a quarter = 60 kW.
        #expect(try park(2, "energy")["peak_demand_15m_kw"] as? Double == 60)
        #expect(try tariff(2)["peak"] == 0)
        func exceedance(_ hour: Int) throws -> Double? {
            (try park(hour, "emissions")["exceedance_minutes"] as? [String: [String: Double]])?["pm25-24h"]?["aq-1"]
        }
        #expect(try exceedance(22) == 9)  // 22:51 to 23:00, per rule and station
        #expect(try exceedance(23) == 60)
        #expect((try park(21, "emissions")["means"] as? [String: Double])?["pm25"] == 80)
        let green = try park(3, "green")
        #expect(green["green_coverage"] as? Double == 0.12 && green["green_target"] as? Double == 0.1)
        #expect(green["green_target_met"] as? Bool == true)
        let quality = try #require(try park(6, "energy")["data_quality"] as? [String: Any])
        #expect(quality["known_sensors"] as? Int == 2 && quality["reporting_sensors"] as? Int == 1)  // m-2 went silent
        #expect(quality["stale_sensors"] as? Int == 1 && quality["completeness"] as? Double == 0.5)
        // The daily line agrees with its 24 hourly lines.
        let day = try #require(
            summaries.first {
                $0["period"] as? String == "1d" && ($0["from"] as? String)?.hasPrefix("2026-11-23T00:00") == true
            })
        let dayEnergy =
            (day["parks"] as? [[String: Any]])?.first { $0["pillar"] as? String == "energy" }?["energy_kwh"] as? Double
        let hourly = try (0..<24).reduce(0.0) { $0 + (try park($1, "energy")["energy_kwh"] as? Double ?? .nan) }
        #expect(dayEnergy == hourly && hourly == 59 + 23 * 60 - 1)  // one kWh a minute, less the first reading and the reset
        #expect(
            day["messages"] as? Int
                == summaries.filter {
                    $0["period"] as? String == "1h" && (($0["from"] as? String) ?? "") < "2026-11-24"
                }.reduce(0) { $0 + ($1["messages"] as! Int) })
    }
}
