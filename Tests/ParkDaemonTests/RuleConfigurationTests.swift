import Foundation
import Logging
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

@Suite("Rules in the configuration")
struct RuleConfigurationTests {
    static let deploy: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Deploy")
    }()

    func parse(_ yaml: String, file: String = "/etc/parkd/parkd.yaml") throws(ConfigurationError) -> DaemonConfiguration
    {
        try DaemonConfiguration.parse("broker: {url: mqtt://h}\n" + yaml, file: file)
    }

    @Test("each condition form parses into its rule")
    func forms() throws {
        let c = try parse(
            """
            expected_sensors: [{park: p, zone: z, pillar: emissions, kind: pm25, sensor: aq-9}]
            rules:
              - {id: a, description: "PM2.5 day", severity: critical, reference: "QCVN 05:2023/BTNMT", match: {kind: pm25, park: "bau-*"}, when: {window: 24h, stat: mean, above: 45}, for: 10m, renotify: 6h, require_valid: true}
              - {id: b, when: {below: 6, clear: 6.2}}
              - {id: c, stale: 15m, match: {pillar: energy}}
              - {id: d, flatline: {window: 1h, spread: 0.1, min_count: 5}}
              - {id: e, completeness: {window: 1h, expected: 60}}
              - {id: f, counter_reset: {window: 1h}}
              - {id: g, out_of_range: true}
              - {id: h, calibrating: 2h}
              - {id: i, rate: {window: 1m, limit: 3}}
              - {id: j, when: {window: 1h, stat: p95, above: 70}, hours: "21:00-06:00"}
            """)
        #expect(c.rules.map(\.id) == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
        let a = c.rules[0]
        #expect(a.condition == .threshold(source: .window("24h", .mean), above: true, limit: 45, clear: nil))
        #expect(a.severity == .critical && a.reference == "QCVN 05:2023/BTNMT" && a.requireValid)
        #expect(a.forMilliseconds == 600_000 && a.renotifyMilliseconds == 21_600_000)
        #expect(a.matcher == SeriesMatcher(park: "bau-*", kind: "pm25"))
        #expect(c.rules[1].condition == .threshold(source: .reading, above: false, limit: 6, clear: 6.2))
        #expect(c.rules[2].condition == .stale(afterMilliseconds: 900_000) && c.rules[2].matcher.pillar == .energy)
        #expect(c.rules[3].condition == .flatline(window: "1h", spread: 0.1, minCount: 5))
        #expect(c.rules[4].condition == .completeness(window: "1h", expected: 60, minShare: 0.75))
        #expect(c.rules[5].condition == .counterReset(window: "1h"))
        #expect(c.rules[6].condition == .outOfRange)
        #expect(c.rules[7].condition == .calibrating(afterMilliseconds: 7_200_000))
        #expect(c.rules[8].condition == .rateOfChange(window: "1m", limit: 3))
        let night = c.rules[9]
        #expect(night.activeMinutes?.start == 1260 && night.activeMinutes?.end == 360)
        // 22:00 and 05:00 local (UTC+7) are night; 12:00 is not.
        #expect(night.isActive(at: RFC3339.parse(Array("2026-11-23T22:00:00+07:00".utf8))!))
        #expect(night.isActive(at: RFC3339.parse(Array("2026-11-23T05:59:00+07:00".utf8))!))
        #expect(!night.isActive(at: RFC3339.parse(Array("2026-11-23T12:00:00+07:00".utf8))!))
        #expect(c.expectedSensors == [SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "aq-9")])
        #expect(c.pipelineSettings.rules.count == 10)
    }

    @Test(
        "rule errors name the file, the rule and what is wrong",
        arguments: [
            ("rules:\n  - {id: a, when: {window: 8h, above: 1}}\n", "reads window '8h', which is not configured"),
            ("rules:\n  - {id: a}\n", "rule 'a' needs exactly one of when"),
            ("rules:\n  - {id: a, stale: 1m, out_of_range: true}\n", "found stale, out_of_range"),
            (
                "rules:\n  - {id: a, severity: loud, stale: 1m}\n",
                "rules[0].severity: expected info, warning or critical"
            ),
            ("rules:\n  - {id: a, when: {above: 1, below: 2}}\n", "give 'above' or 'below'"),
            (
                "rules:\n  - {id: a, when: {window: 1h, stat: median, above: 1}}\n",
                "rules[0].when.stat: expected one of mean"
            ),
            ("rules:\n  - {id: a, stale: 1m, hours: evenings}\n", "rules[0].hours: expected local hours"),
            ("rules:\n  - {id: a, stale: 1m}\n  - {id: a, out_of_range: true}\n", "rule id 'a' is used twice"),
            ("rules:\n  - {stale: 1m}\n", "a rule needs an id"),
            ("rule_files: [missing.yaml]\n", "cannot read rule file '/etc/parkd/missing.yaml'"),
            ("expected_sensors: [{park: p}]\n", "needs park, zone, pillar, kind and sensor"),
        ])
    func errors(yaml: String, expected: String) {
        let error = #expect(throws: ConfigurationError.self) { try parse(yaml) }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("/etc/parkd/parkd.yaml") == true)
    }

    @Test("the shipped configurations and rule packs load, with the regulatory limits they cite")
    func shipped() throws {
        for name in ["demo.yaml", "simulator.yaml"] {
            let c = try DaemonConfiguration.load(path: Self.deploy.appendingPathComponent("config/\(name)").path)
            #expect(c.rules.count > 20, "\(name)")
        }
        // The production examples name /etc/parkd paths: load them with the packs from the tree
        // and a password from the environment.
        setenv("PARKD_BROKER_PASSWORD", "example", 1)
        for name in ["park.yaml", "chirpstack.yaml"] {
            var text = try String(contentsOf: Self.deploy.appendingPathComponent("config/\(name)"), encoding: .utf8)
            text = text.replacingOccurrences(
                of: "/etc/parkd/rules/", with: Self.deploy.appendingPathComponent("rules").path + "/"
            )
            .replacingOccurrences(
                of: "password_file: /etc/parkd/broker.pass", with: "password_env: PARKD_BROKER_PASSWORD"
            )
            .replacingOccurrences(of: "  tls: {ca_file: /etc/parkd/chirpstack-ca.pem}\n", with: "")
            let c = try DaemonConfiguration.parse(text, file: Self.deploy.appendingPathComponent("config/\(name)").path)
            #expect(!c.rules.isEmpty && !c.topics.isEmpty, "\(name)")
        }
        let c = try DaemonConfiguration.load(path: Self.deploy.appendingPathComponent("config/simulator.yaml").path)
        func rule(_ id: String) -> Rule? { c.rules.first { $0.id == id } }
        // Figures fixed by the regulations (QCVN 05:2023, QCVN 26:2010, QCVN 40:2011).
        #expect(
            rule("qcvn05-pm25-24h")?.condition
                == .threshold(source: .window("24h", .mean), above: true, limit: 45, clear: nil))
        #expect(
            rule("qcvn05-co-8h")?.condition
                == .threshold(source: .window("8h", .mean), above: true, limit: 10_000, clear: nil))
        #expect(
            rule("qcvn05-so2-1h")?.condition
                == .threshold(source: .window("1h", .mean), above: true, limit: 350, clear: nil))
        // At vsip-1's outlet (Kq 1, Kf 1) COD is C itself; at bau-bang's (0.9 × 1.0) 135.
        #expect(
            c.rules.first { $0.id == "qcvn40b-cod" && $0.matcher.park == "vsip-1" }?.condition
                == .threshold(source: .window("1h", .mean), above: true, limit: 150, clear: nil))
        #expect(
            c.rules.first { $0.id == "qcvn40b-cod" && $0.matcher.park == "bau-bang" }?.condition
                == .threshold(source: .window("1h", .mean), above: true, limit: 135, clear: nil))
        #expect(
            rule("qcvn40b-ph-low")?.condition
                == .threshold(source: .window("1h", .mean), above: false, limit: 5.5, clear: 5.7))
        #expect(rule("qcvn26-noise-night")?.activeMinutes?.start == 21 * 60)
        #expect(rule("qcvn05-pm25-24h")?.requireValid == true)
        // PM2.5: 50 µg/m³ until 2025-12-31, 45 from 2026-01-01 (park local time).
        let newYear = RFC3339.parse(Array("2026-01-01T00:00:00+07:00".utf8))!
        let before = EventTime(milliseconds: newYear.milliseconds - 1)
        #expect(
            rule("qcvn05-pm25-24h")?.isActive(at: newYear) == true
                && rule("qcvn05-pm25-24h")?.isActive(at: before) == false)
        #expect(
            rule("qcvn05-pm25-24h-2025")?.isActive(at: before) == true
                && rule("qcvn05-pm25-24h-2025")?.isActive(at: newYear) == false)
        #expect(
            rule("qcvn05-pm25-24h-2025")?.condition
                == .threshold(source: .window("24h", .mean), above: true, limit: 50, clear: nil))
        let columnA = try DaemonConfiguration.parse(
            "broker: {url: mqtt://h}\nrule_files: [../rules/qcvn40-2011-wastewater-a.yaml]\n"
                + "parks: {p: {wastewater: {zone: cetp, kq: 1, kf: 1}}}\n",
            file: Self.deploy.appendingPathComponent("config/x.yaml").path)
        #expect(
            columnA.rules.first { $0.id == "qcvn40a-cod" }?.condition
                == .threshold(source: .window("1h", .mean), above: true, limit: 75, clear: nil))
        #expect(
            columnA.rules.first { $0.id == "qcvn40a-ph-low" }?.condition
                == .threshold(source: .window("1h", .mean), above: false, limit: 6, clear: 6.2))
    }
}

@Suite("Rule packs and their windows")
struct PackWindowTests {
    static let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy/rules").path

    @Test("every shipped pack loads with the default windows: a window a pack reads is added")
    func defaults() throws {
        let packs = try FileManager.default.contentsOfDirectory(atPath: Self.rules).filter { $0.hasSuffix(".yaml") }
            .sorted()
        #expect(packs.count == 7)
        for pack in packs {
            let c = try DaemonConfiguration.parse(
                "broker: {url: mqtt://127.0.0.1}\nrule_files: [\(Self.rules)/\(pack)]\n"
                    + "parks: {p: {wastewater: {zone: cetp, kq: 1, kf: 1}, zones: {fence: ordinary, school: special}}}\n",
                file: "/etc/parkd/parkd.yaml")
            #expect(!c.rules.isEmpty && c.ruleWarnings.isEmpty, "\(pack)")
            for rule in c.rules {
                if let window = rule.windowName { #expect(c.windows.contains { $0.name == window }, "\(pack)") }
            }
        }
        // QCVN 05 reads an 8 h mean (CO, O3): added, hourly, aligned like the others to local time.
        let c = try DaemonConfiguration.parse(
            "broker: {url: mqtt://127.0.0.1}\nrule_files: [\(Self.rules)/qcvn05-2023-ambient-air.yaml]\n",
            file: "/etc/parkd/parkd.yaml")
        #expect(c.windows.map(\.name) == ["1m", "15m", "1h", "24h", "8h"])
        let eight = try #require(c.windows.last)
        #expect(eight.bucketCount == 8 && eight.alignOffsetMilliseconds == 420 * 60_000)
        #expect(c.addedWindows["8h"]?.hasSuffix("qcvn05-2023-ambient-air.yaml") == true)
        #expect(c.effectiveYAML.contains("# added: \(Self.rules)/qcvn05-2023-ambient-air.yaml reads it"))
    }

    @Test("a pack's window that the configuration defines otherwise is an error naming both")
    func conflict() throws {
        do {
            _ = try DaemonConfiguration.parse(
                """
                broker: {url: mqtt://127.0.0.1}
                windows: [{name: 8h, length: 8h, bucket: 2h}]
                rule_files: [\(Self.rules)/qcvn05-2023-ambient-air.yaml]
                """, file: "/etc/parkd/parkd.yaml")
            Issue.record("a conflicting window was accepted")
        } catch {
            #expect(error.description.contains("qcvn05-2023-ambient-air.yaml"))
            #expect(error.description.contains("needs window '8h' as {length: 8h, bucket: 1h}"))
            #expect(error.description.contains("defines it as {length: 8h, bucket: 2h}"))
        }
    }
}

@Suite("Noise as LAeq")
struct LAeqTests {
    @Test("50 minutes at 55 dBA and 10 at 80 have an LAeq of 72.3: the QCVN 26 day rule fires, the summary says 72.3")
    func energyAverage() throws {
        let rules = PackWindowTests.rules
        let c = try DaemonConfiguration.parse(
            "broker: {url: mqtt://127.0.0.1}\nrule_files: [\(rules)/qcvn26-2010-noise.yaml]\n"
                + "parks: {p: {zones: {z: ordinary}}}\n",
            file: "/etc/parkd/p.yaml")
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        // 10:00 to 10:59 local (UTC+7) on 2026-11-23, one reading a minute: 2026-11-23T03:00Z.
        let start = Int64(1_795_402_800_000)
        for minute in 0..<60 {
            let time = start + Int64(minute) * 60_000
            let value = minute < 50 ? 55 : 80
            p.ingest(
                topic: "parks/p/z/emissions/noise/n1", payload: Array(#"{"value": \#(value), "ts": \#(time)}"#.utf8),
                arrival: EventTime(milliseconds: time))
        }
        // LAeq = 10·log10((50·10^5.5 + 10·10^8) / 60) = 10·log10(16 930 189.8) = 72.287 dB.
        // The arithmetic mean, (50·55 + 10·80) / 60 = 59.2, would stay under the 70 dBA limit.
        let expected = 10 * log10((50 * pow(10, 5.5) + 10 * pow(10, 8)) / 60)
        #expect(abs(expected - 72.287) < 0.001)
        // The rolling hour crosses 70 at the sixth reading at 80 (minute 55):
        // after five, 10·log10((50·10^5.5 + 5·10^8) / 55) = 69.72; after six, (… + 6·10^8) / 56 → 70.41.
        let alerts = p.takeAlerts()
        #expect(alerts.map(\.rule) == ["qcvn26-noise-day"] && alerts.first?.state == .firing)
        #expect(alerts.first?.at.milliseconds == start + 55 * 60_000)
        let crossing = 10 * log10((50 * pow(10, 5.5) + 6 * pow(10, 8)) / 56)
        #expect(abs(crossing - 70.41) < 0.005 && abs((alerts.first?.value ?? 0) - crossing) < 1e-9)
        let id = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "noise", sensor: "n1")
        let hour = try #require(p.seriesState(id)?.stats(window: "1h"))
        #expect(abs((hour.leq ?? 0) - expected) < 1e-9 && abs(hour.mean - 3550.0 / 60) < 1e-9)
        // Energy sums are kept only where a rule reads them (here the 1 h window).
        #expect(p.seriesState(id)?.stats(window: "1m")?.leq == nil)
        // The park's noise figure for the hour is the energy average too.
        let snapshot = p.takeInterval(
            from: EventTime(milliseconds: start), to: EventTime(milliseconds: start + 3_600_000))
        let emissions = try #require(snapshot.parks.first { $0.pillar == .emissions })
        #expect(abs((emissions.means["noise"] ?? 0) - expected) < 1e-9)
    }
}

@Suite("Regulatory configuration")
struct RegulatoryConfigurationTests {
    static let rules = PackWindowTests.rules
    static let deploy = URL(fileURLWithPath: PackWindowTests.rules).deletingLastPathComponent().path

    func parse(_ yaml: String) throws -> DaemonConfiguration {
        try DaemonConfiguration.parse("broker: {url: mqtt://127.0.0.1}\n" + yaml, file: "/etc/parkd/parkd.yaml")
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "parsed"
        } catch { return "\(error)" }
    }

    @Test("check-config names the limit in force on a date: PM2.5 24 h 50 in 2025, 45 in 2026; COD 121.5 at the outlet")
    func limitsInForce() throws {
        let c = try parse(
            """
            rule_files: [\(Self.rules)/qcvn05-2023-ambient-air.yaml, \(Self.rules)/qcvn40-2011-wastewater-b.yaml]
            parks: {p: {wastewater: {zone: wwtp, kq: 0.9, kf: 0.9}}}
            """)
        // 2025-06-01T00:00+07:00 and 2026-06-01T00:00+07:00.
        let in2025 = c.limitsInForce(at: EventTime(milliseconds: 1_748_710_800_000))
        let in2026 = c.limitsInForce(at: EventTime(milliseconds: 1_780_246_800_000))
        #expect(in2025.contains("qcvn05-pm25-24h-2025: kind pm25 24h mean, judged on local calendar days ≤ 50"))
        #expect(!in2025.contains("qcvn05-pm25-24h: "))
        #expect(in2026.contains("qcvn05-pm25-24h: kind pm25 24h mean, judged on local calendar days ≤ 45"))
        #expect(in2026.contains("qcvn05-pm25-year: kind pm25 calendar-year mean of daily means ≤ 25"))
        #expect(in2026.contains("qcvn40b-cod: park p, zone wwtp, kind ww_cod 1h mean, judged on clock hours ≤ 121.5"))
        // Only at the outlet: no unscaled C elsewhere. pH and temperature apply there too, unscaled.
        #expect(!in2026.contains("not park p") && !in2026.contains("≤ 150"))
        #expect(in2026.contains("qcvn40b-ph-high: park p, zone wwtp, kind ww_ph 1h mean, judged on clock hours ≤ 9"))
        // After 2031 the 2011 wastewater limits are no longer in force for anyone.
        #expect(!c.limitsInForce(at: EventTime(milliseconds: 1_956_502_800_000)).contains("qcvn40b"))
    }

    @Test("tariff, meter role, outlet and period errors name their key and what was expected")
    func errors() {
        let cases: [(String, String)] = [
            ("tariffs: [{name: t, periods: [{period: normal, hours: '10:00-11:00'}]}]", "expected peak or off_peak"),
            (
                "tariffs: [{name: t, periods: [{period: peak, days: sun-mon, hours: '10:00-11:00'}]}]",
                "expected weekdays"
            ),
            ("tariffs: [{name: t, from: 2026-13-01, periods: []}]", "expected the date the schedule takes effect"),
            ("tariffs: [{name: a, periods: []}, {name: b, periods: []}]", "take effect on the same date"),
            ("tariffs: /nonexistent/t.yaml", "cannot read tariff file"),
            (
                "expected_sensors: [{park: p, zone: z, pillar: energy, kind: energy, sensor: m, role: import}]",
                "expected a meter role"
            ),
            (
                "expected_sensors: [{park: p, zone: z, pillar: energy, kind: active_power, sensor: m, role: grid_import}]",
                "is not a cumulative counter"
            ),
            ("parks: {p: {wastewater: {kq: 0.9}}}", "needs its zone"),
            ("parks: {p: {wastewater: {zone: wwtp, kf: 0.9}}}", "needs kq"),
            ("parks: {p: {wastewater: {zone: w, kq: 1, kf: 5}}}", "expected kf as in QCVN 40"),
            (
                "rules: [{id: a, reference: R, match: {kind: pm25}, when: {window: 1h, stat: max, above: 1}, period: 1h}]",
                "needs a threshold on a mean or leq"
            ),
            ("rules: [{id: a, when: {window: 24h, above: 1}, period: year}]", "an annual limit reads no window"),
            ("rules: [{id: a, when: {period: week, above: 1}}]", "for annual limits"),
        ]
        for (yaml, expected) in cases {
            let message = error(yaml)
            #expect(message.contains(expected), "\(yaml) → \(message)")
        }
    }

    @Test("the shipped tariff files load: 2014 by default, the reported 2026 schedule from its date")
    func tariffFiles() throws {
        let c = try parse("tariffs: \(Self.deploy)/tariffs/evn-2026-reported.yaml\n")
        #expect(c.tariffs.map(\.name) == ["evn-2014", "evn-2026-reported"])
        let calendar = TariffCalendar(schedules: c.tariffs, utcOffsetMinutes: 420)
        // Monday 2026-11-23 18:00 local: peak under 2026 (17:30–22:30), normal under 2014 (17:00–20:00 was peak!).
        let evening = EventTime(milliseconds: 1_795_366_800_000 + 18 * 3_600_000)
        #expect(calendar.period(at: evening) == .peak)
        // 10:00: peak under 2014, normal under 2026.
        #expect(calendar.period(at: EventTime(milliseconds: 1_795_366_800_000 + 10 * 3_600_000)) == .normal)
        // A year earlier (Monday 2025-11-24 10:00) the 2014 schedule applies: peak.
        #expect(calendar.period(at: EventTime(milliseconds: 1_763_917_200_000 + 10 * 3_600_000)) == .peak)
        // Sunday 2026-11-29 18:00: no peak on Sunday.
        #expect(
            calendar.period(at: EventTime(milliseconds: 1_795_366_800_000 + 6 * 86_400_000 + 18 * 3_600_000)) == .normal
        )
        let plain = try parse("tariffs: \(Self.deploy)/tariffs/evn-2014.yaml\n")
        #expect(
            plain.tariffs == [
                TariffSchedule(
                    name: "evn-2014", from: TariffSchedule.evn2014.from, source: TariffSchedule.evn2014.source,
                    confirmed: false, spans: TariffSchedule.evn2014.spans)
            ])
    }
}

@Suite("Broker address lists in the configuration")
struct BrokerAddressConfigurationTests {
    @Test("urls: several brokers in turn; clear errors for both keys, mixed schemes and repeats")
    func urls() throws {
        let c = try DaemonConfiguration.parse(
            "broker: {urls: [mqtt://127.0.0.1:1883, mqtt://127.0.0.2:1884]}\n", file: "/etc/parkd/parkd.yaml")
        #expect(
            c.clientConfiguration.addresses.map(\.description) == ["mqtt://127.0.0.1:1883", "mqtt://127.0.0.2:1884"])
        #expect(c.effectiveYAML.contains("urls: [mqtt://127.0.0.1:1883, mqtt://127.0.0.2:1884]"))
        let again = try DaemonConfiguration.parse(c.effectiveYAML, file: "/etc/parkd/parkd.yaml")
        #expect(again.broker.fallbackURLs == c.broker.fallbackURLs)
        for (yaml, expected) in [
            ("broker: {url: mqtt://a, urls: [mqtt://b]}", "give url or urls, not both"),
            ("broker: {urls: []}", "needs at least one broker address"),
            ("broker: {urls: [mqtt://a, mqtts://b]}", "mix mqtt and mqtts"),
            ("broker: {urls: [mqtt://a, mqtt://a:1883]}", "listed twice"),
            ("broker: {urls: [mqtt://a, http://b]}", "broker.urls[1]"),
        ] {
            do {
                _ = try DaemonConfiguration.parse(yaml + "\n", file: "/etc/parkd/parkd.yaml")
                Issue.record("\(yaml) parsed")
            } catch {
                #expect("\(error)".contains(expected), "\(yaml) → \(error)")
            }
        }
    }
}

@Suite("Rules apply where the law applies them")
struct RuleScopeTests {
    static let rules = PackWindowTests.rules

    func parse(_ yaml: String) throws -> DaemonConfiguration {
        try DaemonConfiguration.parse("broker: {url: mqtt://127.0.0.1}\n" + yaml, file: "/etc/parkd/parkd.yaml")
    }

    @Test("QCVN 40 judges only a declared outlet, with Kq and Kf required; without one it judges nothing, and says so")
    func outletOnly() throws {
        // Before, the pack loaded with no outlet judged every ww_* sensor against C alone: COD 150
        // where 150 × 0.9 × 0.9 = 121.5 applies, and at the factories' own pipes (§1.2.3 excludes them).
        let none = try parse("rule_files: [\(Self.rules)/qcvn40-2011-wastewater-b.yaml]\n")
        #expect(!none.rules.contains { $0.id.hasPrefix("qcvn40") })
        #expect(none.ruleWarnings.count == 1 && none.ruleWarnings[0].contains("judge nothing"))
        #expect(none.warnings.contains { $0.contains("qcvn40b-cod") && $0.contains("parks.<park>.wastewater") })
        #expect(none.effectiveYAML.contains("# warning: rules qcvn40b-cod"))
        let outlet = try parse(
            "rule_files: [\(Self.rules)/qcvn40-2011-wastewater-b.yaml]\n"
                + "parks: {p: {wastewater: {zone: cetp, sensor: outlet-1, kq: 0.9, kf: 0.9}}}\n")
        let placed = outlet.rules.filter { $0.id.hasPrefix("qcvn40") }
        #expect(!placed.isEmpty && placed.allSatisfy { $0.matcher.zone == "cetp" && $0.matcher.sensor == "outlet-1" })
        #expect(
            placed.first { $0.id == "qcvn40b-cod" }?.condition
                == .threshold(source: .window("1h", .mean), above: true, limit: 121.5, clear: nil))
        // BOD5 is a 5-day laboratory test, not an automatic parameter: no pack judges it.
        #expect(!placed.contains { $0.matcher.kind?.contains("bod5") == true })
        let error = #expect(throws: ConfigurationError.self) {
            try parse("parks: {p: {wastewater: {zone: cetp, kq: 0.9}}}\n")
        }
        #expect(error?.description.contains("needs kf") == true, "\(String(describing: error))")
    }

    @Test("QCVN 26 judges only zones declared ordinary or special; production premises are left out")
    func zoneClasses() throws {
        let c = try parse(
            "rule_files: [\(Self.rules)/qcvn26-2010-noise.yaml, \(Self.rules)/qcvn26-2010-noise-special.yaml]\n"
                + "parks: {p: {zones: {fence-n: ordinary, fence-s: ordinary, school: special, plant-1: production}}}\n")
        let ordinary = c.rules.filter { $0.id.hasPrefix("qcvn26-noise-") }
        let special = c.rules.filter { $0.id.hasPrefix("qcvn26s-noise-") }
        // Day and night rules, one each per ordinary zone; the special pack's at the school only.
        #expect(ordinary.count == 4 && Set(ordinary.map(\.matcher.zone)) == ["fence-n", "fence-s"])
        #expect(!special.isEmpty && special.allSatisfy { $0.matcher.zone == "school" })
        let plant = SeriesID(park: "p", zone: "plant-1", pillar: .emissions, kind: "noise", sensor: "n1")
        #expect(!c.rules.contains { $0.matcher.matches(plant) })
        let error = #expect(throws: ConfigurationError.self) { try parse("parks: {p: {zones: {plant-1: factory}}}\n") }
        #expect(error?.description.contains("expected ordinary, special") == true)
        let undeclared = try parse("rule_files: [\(Self.rules)/qcvn26-2010-noise.yaml]\n")
        #expect(undeclared.rules.isEmpty && undeclared.ruleWarnings.first?.contains("zones declared ordinary") == true)
    }
}
