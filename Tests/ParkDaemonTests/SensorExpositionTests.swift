import Foundation
import Logging
import Synchronization
import Testing

@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest
@testable import TelemetryCore

/// The sensor figures in Prometheus' text format: names, units, labels, the cap, eviction, and
/// Prometheus' own linter and rule checker on what parkd writes and ships.
@Suite("Sensor figures for Prometheus")
struct SensorExpositionTests {
    static let t0 = EventTime(milliseconds: 1_795_392_000_000)  // 2026-11-23T00:00Z, aligned to the hour

    static func configuration(_ extra: String = "") throws -> DaemonConfiguration {
        try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1883"}
            http: {listen: "127.0.0.1:9108"}
            limits: {series_ttl: 1h}
            prometheus: {windows: [1m, 1h]\(extra)}
            """, file: "/etc/parkd/parkd.yaml")
    }

    static func exposition(_ pipeline: IngestPipeline, _ c: DaemonConfiguration) -> SensorExposition.Output {
        let exposition = SensorExposition(settings: c.sensorMetrics!, windows: c.windows.map(\.name))
        return exposition.build(series: exposition.view(of: pipeline), parks: [], compliance: [], alerts: [])
    }

    static func send(_ p: IngestPipeline, _ topic: String, _ value: Double, at seconds: Int) {
        let t = EventTime(milliseconds: t0.milliseconds + Int64(seconds) * 1000)
        p.ingest(topic: topic, payload: Array(#"{"value": \#(value), "ts": \#(t.milliseconds)}"#.utf8), arrival: t)
    }

    @Test("last value, its time and the chosen windows' means, named by base unit, labels escaped")
    func figures() throws {
        let c = try Self.configuration()
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        // PM2.5 40, 44, 48 a minute apart: last 48 at t0+120 s, 1 h mean (40+44+48)/3 = 44.
        for (k, v) in [40.0, 44, 48].enumerated() { Self.send(p, "parks/p/z/emissions/pm25/a1", v, at: 60 * k) }
        // Humidity 55 % reads as the ratio 0.55; a sensor name with a quote and a backslash.
        Self.send(p, #"parks/p/z/green/humidity/h"1\x"#, 55, at: 60)
        let text = Self.exposition(p, c).text
        let pm = #"park="p",zone="z",pillar="emissions",kind="pm25",sensor="a1""#
        #expect(text.contains("parkd_sensor_micrograms_per_cubic_meter{\(pm)} 48\n"))
        #expect(text.contains("parkd_sensor_last_timestamp_seconds{\(pm)} 1795392120\n"))
        #expect(text.contains("parkd_sensor_window_mean_micrograms_per_cubic_meter{\(pm),window=\"1h\"} 44\n"))
        #expect(!text.contains("window=\"15m\""))  // only the windows configured for the exposition
        #expect(
            text.contains(
                #"parkd_sensor_ratio{park="p",zone="z",pillar="green",kind="humidity",sensor="h\"1\\x"} 0.55"#))
        #expect(text.contains("# TYPE parkd_sensor_micrograms_per_cubic_meter gauge\n"))
        #expect(text.contains("parkd_sensor_exposition_dropped_series 0\n"))
    }

    @Test("the last value is the newest measurement: not a late reading appended after it, nor an error reading")
    func lastIsNewestMeasurement() throws {
        let c = try Self.configuration()
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        let pm = #"park="p",zone="z",pillar="emissions",kind="pm25",sensor="a1""#
        Self.send(p, "parks/p/z/emissions/pm25/a1", 40, at: 0)
        Self.send(p, "parks/p/z/emissions/pm25/a1", 48, at: 120)
        Self.send(p, "parks/p/z/emissions/pm25/a1", 44, at: 60)  // late: appended last, older
        // An error reading newer than all: no value (the status page shows only `ok` ones too).
        let t = EventTime(milliseconds: Self.t0.milliseconds + 180_000)
        p.ingest(
            topic: "parks/p/z/emissions/pm25/a1",
            payload: Array(#"{"value": 999, "ts": \#(t.milliseconds), "status": "error"}"#.utf8), arrival: t)
        let text = Self.exposition(p, c).text
        #expect(text.contains("parkd_sensor_micrograms_per_cubic_meter{\(pm)} 48\n"))
        #expect(text.contains("parkd_sensor_last_timestamp_seconds{\(pm)} 1795392120\n"))
    }

    /// Observability over an empty pipeline, configured with the sensor figures.
    static func observability() throws -> Observability {
        let c = try configuration()
        let o = Observability(pipeline: IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test")))
        o.apply(Observability.Settings(c))
        return o
    }

    @Test("a station's daily record stays exposed however many hourly records other stations write after it")
    func complianceLatestKept() throws {
        let o = try Self.observability()
        func record(_ sensor: String, _ period: CompliancePeriod, value: Double) -> ComplianceRecord {
            ComplianceRecord(
                rule: "pm25", reference: nil,
                series: SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: sensor),
                closed: ClosedPeriod(
                    period: period, start: Self.t0, end: EventTime(milliseconds: Self.t0.milliseconds + 3_600_000),
                    value: value, max: value, covered: 4, parts: 4, valid: true, samples: 60),
                statistic: .mean, limit: 50, above: true)
        }
        o.noteCompliance(record("day-station", .day, value: 61), line: "")
        for k in 0...(2 * Observability.recentComplianceLimit) {
            o.noteCompliance(record("s\(k % 500)", .hour, value: 40), line: "")
        }
        let text = try #require(o.sensorMetrics())
        #expect(
            text.contains(
                #"parkd_compliance_value{park="p",zone="z",pillar="emissions",kind="pm25",sensor="day-station",rule="pm25",period="24h"} 61"#
            ))
    }

    @Test("past its bound the latest-record map drops the stations not heard from, keeps the newest, lists each once")
    func complianceLatestBounded() throws {
        let o = try Self.observability()
        let limit = Observability.latestComplianceLimit
        func note(_ sensor: String, value: Double) {
            o.noteCompliance(
                ComplianceRecord(
                    rule: "pm25", reference: nil,
                    series: SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: sensor),
                    closed: ClosedPeriod(
                        period: .hour, start: Self.t0, end: EventTime(milliseconds: Self.t0.milliseconds + 3_600_000),
                        value: value, max: value, covered: 4, parts: 4, valid: true, samples: 60),
                    statistic: .mean, limit: 50, above: true), line: "")
        }
        // s0 first, then twice as many other stations as the bound; "kept" is heard from again
        // three quarters of the way.
        note("s0", value: 40)
        note("kept", value: 41)
        for k in 1...(2 * limit) {
            note("s\(k)", value: 40)
            if k == limit + limit / 2 { note("kept", value: 42) }
        }
        #expect(o.latestComplianceCount <= 2 * limit)
        #expect(o.latestComplianceCount >= limit)
        let text = try #require(o.sensorMetrics())
        // The last `limit` stations noted are all there; the first is gone.
        for k in [limit + 1, limit + 2, 3 * limit / 2, 2 * limit] {
            #expect(text.contains(#"sensor="s\#(k)",rule="pm25""#), "s\(k)")
        }
        #expect(!text.contains(#"sensor="s0",rule="pm25""#))
        // Noted again, "kept" is there once, with its newer value.
        let kept = text.split(separator: "\n").filter {
            $0.hasPrefix("parkd_compliance_value{") && $0.contains(#"sensor="kept""#)
        }
        #expect(kept.count == 1 && kept.first?.hasSuffix(" 42") == true, "\(kept)")
    }

    @Test("series are read a chunk at a time: across two chunks every shown series has its own figures, the cap holds")
    func acrossChunks() throws {
        let c = try Self.configuration(", max_series: 500")
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        // 700 series sent in reverse order (slots are not identity order), 500 shown in 2 chunks of 256.
        for k in (0..<700).reversed() {
            Self.send(p, "parks/p/z/emissions/pm25/s\(1000 + k)", Double(k), at: 0)
        }
        let output = Self.exposition(p, c)
        #expect(output.exposed == 500 && output.dropped == 200)
        for k in [0, 255, 256, 499] {
            // Each its own last value and 1 m mean: s1000 + k sent k.
            let labels = #"park="p",zone="z",pillar="emissions",kind="pm25",sensor="s\#(1000 + k)""#
            #expect(output.text.contains("parkd_sensor_micrograms_per_cubic_meter{\(labels)} \(k)\n"))
            #expect(
                output.text.contains(
                    "parkd_sensor_window_mean_micrograms_per_cubic_meter{\(labels),window=\"1m\"} \(k)\n"))
        }
        #expect(!output.text.contains(#"sensor="s1500""#) && !output.text.contains(#"sensor="s1699""#))
        let lines = output.text.split(separator: "\n").filter {
            $0.hasPrefix("parkd_sensor_micrograms_per_cubic_meter{")
        }
        #expect(lines.count == 500)
    }

    @Test("series listed before an eviction are found again by name: each shows its own figures, the evicted one none")
    func evictedWhileRead() throws {
        let c = try Self.configuration()
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        // s1 is the only humidity series (kind 0); s2 to s5 are PM2.5 (kind 1).
        Self.send(p, "parks/p/z/green/humidity/s1", 1, at: 0)
        for k in 2...5 { Self.send(p, "parks/p/z/emissions/pm25/s\(k)", Double(k), at: 0) }
        let listed = p.seriesListed  // slots 0 to 4: s1 to s5
        // s1 falls silent past series_ttl (1 h) and is evicted; s2 to s5 move down a slot, and
        // with no humidity series left the table renumbers PM2.5 as kind 0.
        for k in c.summaries.intervals.indices {
            _ = p.takeInterval(
                schedule: k, from: Self.t0, to: EventTime(milliseconds: Self.t0.milliseconds + 3_600_000))
        }
        for k in 2...5 { Self.send(p, "parks/p/z/emissions/pm25/s\(k)", Double(10 + k), at: 7200) }
        p.tick(at: EventTime(milliseconds: Self.t0.milliseconds + 7_200_000))
        #expect(p.seriesCount == 4)
        let view = p.sensorView(listed, windows: [0], limit: 10)
        #expect(view.total == 5)
        #expect(view.series.map(\.id.sensor) == ["s2", "s3", "s4", "s5"])
        // Each with its own newest reading, not the one now at its old slot.
        #expect(view.series.map { $0.last?.value } == [12, 13, 14, 15])
        // And its own kind in the listing's numbering, not the table's new one.
        #expect(view.series.allSatisfy { view.kinds[Int($0.kind)]?.unit == "ug/m3" })
    }

    @Test("the cap leaves series out in a stable order and counts them; evicted series disappear")
    func capAndEviction() throws {
        let c = try Self.configuration(", max_series: 3")
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        for k in 1...5 { Self.send(p, "parks/p/z/emissions/pm25/s\(k)", Double(k), at: 0) }
        let capped = Self.exposition(p, c)
        #expect(capped.exposed == 3 && capped.dropped == 2)
        #expect(capped.text.contains(#"sensor="s1""#) && capped.text.contains(#"sensor="s3""#))
        #expect(!capped.text.contains(#"sensor="s4""#) && !capped.text.contains(#"sensor="s5""#))
        #expect(capped.text.contains("parkd_sensor_exposition_dropped_series 2\n"))
        // s1 to s4 fall silent past series_ttl (1 h); s5 goes on: the others are evicted and gone.
        for k in c.summaries.intervals.indices {  // every summary schedule's interval closes
            _ = p.takeInterval(
                schedule: k, from: Self.t0, to: EventTime(milliseconds: Self.t0.milliseconds + 3_600_000))
        }
        Self.send(p, "parks/p/z/emissions/pm25/s5", 9, at: 7200)
        p.tick(at: EventTime(milliseconds: Self.t0.milliseconds + 7_200_000))
        let after = Self.exposition(p, c)
        #expect(after.exposed == 1 && after.dropped == 0)
        #expect(!after.text.contains(#"sensor="s1""#) && after.text.contains(#"sensor="s5""#))
    }

    @Test("the whole endpoint's text passes promtool check metrics; parks, compliance and alerts included")
    func promtoolLint() throws {
        let promtool = try Subprocess.tool("promtool")
        let c = try Self.configuration()
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        for k in 0..<3 { Self.send(p, "parks/p/z/emissions/pm25/a1", 60, at: 60 * k) }
        Self.send(p, "parks/p/z/energy/energy/m1", 1000, at: 0)
        let park = ParkSummary(
            park: "p", pillar: .energy, expectedSensors: 0, knownSensors: 1, reportingSensors: 1, staleSensors: 0,
            readings: 1, accepted: 1, quality: .init(), energyKWh: 12.5, gridImportKWh: nil, gridExportKWh: nil,
            pvKWh: nil, subMeteredKWh: nil, tariffKWh: [.peak: 2.5, .normal: 10], peakDemandKW: 30,
            renewableShare: nil, renewableShareMissing: nil, means: [:], exceedanceMinutes: [:], greenAreaM2: nil,
            greenCoverage: nil, greenTarget: nil, irrigationM3: nil)
        let record = ComplianceRecord(
            rule: "pm25-1h", reference: nil,
            series: SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "a1"),
            closed: ClosedPeriod(
                period: .hour, start: Self.t0, end: EventTime(milliseconds: Self.t0.milliseconds + 3_600_000),
                value: 54,
                max: 58, covered: 4, parts: 4, valid: true, samples: 60),
            statistic: .mean, limit: 50, above: true)
        let exposition = SensorExposition(settings: c.sensorMetrics!, windows: c.windows.map(\.name))
        let text = exposition.build(
            series: exposition.view(of: p), parks: [("1h", park)], compliance: [record],
            alerts: [("pm25-high", .critical, record.series, Self.t0)]
        ).text
        #expect(
            text.contains(
                #"parkd_park_tariff_energy_kilowatt_hours{park="p",pillar="energy",interval="1h",period="peak"} 2.5"#))
        #expect(
            text.contains(
                #"parkd_compliance_exceeded{park="p",zone="z",pillar="emissions",kind="pm25",sensor="a1",rule="pm25-1h",period="1h"} 1"#
            ))
        #expect(
            text.contains(
                #"parkd_compliance_value{park="p",zone="z",pillar="emissions",kind="pm25",sensor="a1",rule="pm25-1h",period="1h"} 54"#
            ))
        #expect(text.contains(#"parkd_alerts{alertname="pm25-high",alertstate="firing",severity="critical",park="p""#))
        // Exit 1 is a format error; 3 lists lint findings. The one finding allowed is the units
        // the figures are read in on purpose (kWh and µg/m³, not joules and grams).
        let (status, out, errors) = try Subprocess.run(promtool, ["check", "metrics"], input: Data(text.utf8))
        let output = String(decoding: out, as: UTF8.self) + errors
        #expect(status == 0 || status == 3, "\(output)\n\(text)")
        let findings = output.split(separator: "\n").filter {
            !$0.contains(#"use base unit "seconds" instead of "hours""#)
                && !$0.contains(#"use base unit "grams" instead of "micrograms""#)
        }
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test("the shipped Prometheus rules and configuration pass promtool, and the rules' unit tests pass")
    func shippedRules() throws {
        let promtool = try Subprocess.tool("promtool")
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/prometheus").path
        for arguments in [
            ["check", "rules", "\(folder)/parkd-rules.yml"], ["test", "rules", "\(folder)/parkd-rules.test.yml"],
            ["check", "config", "\(folder)/prometheus.yml"],
        ] {
            let (status, out, errors) = try Subprocess.run(promtool, arguments, directory: folder)
            let output = String(decoding: out, as: UTF8.self) + errors
            #expect(status == 0, "promtool \(arguments.joined(separator: " ")): \(output)")
        }
    }

    @Test("configuration: prometheus reads back equal; an unknown window or no HTTP is refused")
    func configuration() throws {
        let c = try Self.configuration(", path: /metrics, max_series: 500")
        #expect(c.sensorMetrics?.path == "/metrics" && c.sensorMetrics?.maxSeries == 500)
        #expect(c.sensorMetrics?.windows == ["1m", "1h"])
        #expect(try DaemonConfiguration.parse(c.effectiveYAML, file: c.file) == c)
        let refusal = ConfigurationRefusal.text
        #expect(
            refusal(#"{broker: {url: "mqtt://127.0.0.1:1883"}, prometheus: {windows: [2h]}}"#).contains(
                "no window named '2h'"))
        #expect(
            refusal(#"{broker: {url: "mqtt://127.0.0.1:1883"}, http: off, prometheus: {}}"#).contains("set http.listen")
        )
        #expect(
            refusal(#"{broker: {url: "mqtt://127.0.0.1:1883"}, prometheus: {path: /healthz}}"#).contains(
                "a path of its own"))
    }

    @Test("path /metrics carries parkd's own metrics and the sensor figures, from one route (no duplicate)")
    func combinedPath() async throws {
        let c = try Self.configuration(", path: /metrics")
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        Self.send(p, "parks/p/z/emissions/pm25/a1", 40, at: 0)
        let o = Observability(pipeline: p)
        o.apply(Observability.Settings(c))
        let http = InProcessHTTP(HTTPEndpoint.router(o, pipeline: p))
        let (status, _, body) = try await http.get("/metrics")
        #expect(status == .ok)
        #expect(body.contains("parkd_messages_total") && body.contains("parkd_sensor_micrograms_per_cubic_meter{"))
        // The default path is a route of its own.
        let d = try Self.configuration()
        let o2 = Observability(pipeline: p)
        o2.apply(Observability.Settings(d))
        let (s2, _, b2) = try await InProcessHTTP(HTTPEndpoint.router(o2, pipeline: p)).get("/metrics/sensors")
        #expect(
            s2 == .ok && b2.contains("parkd_sensor_micrograms_per_cubic_meter{") && !b2.contains("parkd_messages_total")
        )
    }

    @Test("scrapes that come together share one build of the sensor text; a reload builds it afresh")
    func scrapesShareABuild() throws {
        let c = try Self.configuration()
        let p = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        Self.send(p, "parks/p/z/emissions/pm25/a1", 40, at: 0)
        // An hour's cache, so that "within the cache's time" holds however slow the machine.
        let o = Observability(pipeline: p, sensorCacheSeconds: 3600)
        o.apply(Observability.Settings(c))
        // Sixteen scrapes from eight threads against a cold cache: one builds, the others wait
        // for that build and take it (before: sixteen builds).
        let texts = Mutex<[String?]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let text = o.sensorMetrics()
            texts.withLock { $0.append(text) }
        }
        let first = try #require(texts.withLock { $0.first } ?? nil)
        #expect(first.contains(#"sensor="a1""#))
        #expect(texts.withLock { $0 }.allSatisfy { $0 == first })
        #expect(o.sensorBuilds == 1)
        // Within the cache's time a new series is not read yet.
        Self.send(p, "parks/p/z/emissions/pm25/a2", 41, at: 0)
        #expect(o.sensorMetrics() == first)
        #expect(o.sensorBuilds == 1)
        // A reload may change what is shown: the next scrape reads the series again.
        o.apply(Observability.Settings(c))
        #expect(try #require(o.sensorMetrics()).contains(#"sensor="a2""#))
        #expect(o.sensorBuilds == 2)
        // Without a cache every scrape builds.
        let uncached = Observability(pipeline: p, sensorCacheSeconds: 0)
        uncached.apply(Observability.Settings(c))
        for _ in 0..<3 { _ = uncached.sensorMetrics() }
        #expect(uncached.sensorBuilds == 3)
    }

    @Test("units in metric names are ASCII words; a kind outside the catalog is _value")
    func unitWords() {
        #expect(SensorExposition.unitName("W/m²").name == "w_per_m")
        #expect(SensorExposition.unitName("µS/cm").name == "s_per_cm")
        #expect(SensorExposition.unitName(nil).name == "value")
        #expect(SensorExposition.unitName("%") == ("ratio", 0.01))
    }
}
