import Foundation
import Logging
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

/// What a restart (snapshot and alert state restored into a new pipeline) or a SIGHUP reload
/// must keep: when each sensor was last seen, and the regulatory episodes still open.
@Suite("Liveness across restarts and reloads")
struct LivenessTests {
    static let t0 = Int64(1_795_400_000_000)
    static func at(minutes: Double) -> EventTime { EventTime(milliseconds: t0 + Int64(minutes * 60_000)) }

    static func pipeline() throws -> IngestPipeline {
        let configuration = try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1"}
            rules:
              - {id: stale, description: "silent", severity: warning, stale: 2h}
              - {id: pm25-high, description: "PM2.5 high", severity: critical, reference: "QCVN 05:2023", match: {kind: pm25}, when: {above: 50}}
            """, file: "/nonexistent/liveness.yaml")
        return IngestPipeline(settings: configuration.pipelineSettings, logger: Logger(label: "test"))
    }

    func send(_ p: IngestPipeline, _ sensor: String, _ value: Double, minutes: Double) {
        let time = Self.at(minutes: minutes)
        p.ingest(
            topic: "parks/p/z/emissions/pm25/\(sensor)",
            payload: Array(#"{"value": \#(value), "ts": \#(time.milliseconds)}"#.utf8),
            arrival: time)
    }

    /// A new pipeline with what `parkd run` saves and restores at a restart.
    func restart(_ old: IngestPipeline, at minutes: Double) throws -> IngestPipeline {
        let bytes = old.snapshot(at: Self.at(minutes: minutes))
        let fresh = try Self.pipeline()
        _ = try fresh.restore(snapshot: bytes)
        #expect(fresh.restoreAlerts(old.activeAlerts, at: Self.at(minutes: minutes)) == 0)
        fresh.restoreEpisodes(old.episodes, at: Self.at(minutes: minutes))
        return fresh
    }

    @Test("a firing stale alert stays firing across a restart: no resolved line, no second firing")
    func staleAcrossRestart() throws {
        let p = try Self.pipeline()
        send(p, "s1", 10, minutes: 0)
        p.tick(at: Self.at(minutes: 121))
        #expect(p.takeAlerts().map(\.state) == [.firing])
        let q = try restart(p, at: 125)
        q.tick(at: Self.at(minutes: 126))
        q.tick(at: Self.at(minutes: 300))
        #expect(q.takeAlerts().isEmpty)
        #expect(q.firingAlerts.map(\.rule) == ["stale"])
        send(q, "s1", 10, minutes: 301)  // it speaks again: the same episode resolves
        #expect(q.takeAlerts().map(\.state) == [.resolved])
    }

    @Test("a sensor that died before the restart is reported stale after it")
    func diedBeforeRestart() throws {
        let p = try Self.pipeline()
        send(p, "s2", 10, minutes: 0)
        p.tick(at: Self.at(minutes: 60))
        let q = try restart(p, at: 61)
        q.tick(at: Self.at(minutes: 119))
        #expect(q.takeAlerts().isEmpty)
        q.tick(at: Self.at(minutes: 121))
        let alerts = q.takeAlerts()
        #expect(alerts.map(\.state) == [.firing] && alerts.first?.series.sensor == "s2")
    }

    @Test("a SIGHUP reload keeps when each sensor was last seen")
    func staleAcrossReload() throws {
        let p = try Self.pipeline()
        send(p, "s1", 10, minutes: 0)
        p.tick(at: Self.at(minutes: 121))
        #expect(p.takeAlerts().map(\.state) == [.firing])
        let configuration = try DaemonConfiguration.parse(
            "broker: {url: \"mqtt://127.0.0.1:1\"}\nrules: [{id: stale, description: silent, severity: warning, stale: 2h}]\n",
            file: "/nonexistent/reload.yaml")
        #expect(
            p.reload(
                rules: configuration.rules, expectedSensors: [], limits: configuration.limits, at: Self.at(minutes: 122)
            )
                == 0)
        p.tick(at: Self.at(minutes: 123))
        #expect(p.takeAlerts().isEmpty)
        #expect(p.firingAlerts.map(\.rule) == ["stale"])
    }

    @Test("minutes in exceedance go on counting after a restart during an exceedance")
    func exceedanceAcrossRestart() throws {
        let p = try Self.pipeline()
        send(p, "s1", 80, minutes: 0)
        #expect(p.takeAlerts().map(\.state) == [.firing])
        let q = try restart(p, at: 10)
        send(q, "s1", 80, minutes: 30)
        send(q, "s1", 10, minutes: 40)  // clears at minute 40
        #expect(q.takeAlerts().map(\.state) == [.resolved])
        let snapshot = q.takeInterval(from: Self.at(minutes: 0), to: Self.at(minutes: 60))
        let emissions = try #require(snapshot.parks.first { $0.pillar == .emissions })
        // 0 → 40 minutes, across the restart at minute 10: one span, per rule and station.
        #expect(emissions.exceedanceMinutes == ["pm25-high": ["s1": 40]])
    }
}

@Suite("Snapshots from earlier versions")
struct SnapshotUpgradeTests {
    /// A snapshot written by an earlier parkd, from `Fixtures/`.
    static func fixture(_ name: String) throws -> [UInt8] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/" + name).path
        return Array(try #require(FileManager.default.contents(atPath: path)))
    }

    /// The pipeline settings of a configuration that names only its broker (the default windows).
    static func defaultSettings() throws -> IngestPipeline.Settings {
        try DaemonConfiguration.parse("broker: {url: \"mqtt://127.0.0.1:1\"}\n", file: "/x/p.yaml").pipelineSettings
    }
    @Test("a version 1 snapshot written by the previous parkd is restored: windows, counters and seqs")
    func versionOne() throws {
        // Written by parkd before this version, from 20 readings a minute apart (from
        // 2026-11-23T02:13:20Z) of a PM2.5 sensor, values 10…29, and of an energy meter, 100…195 kWh.
        let bytes = try Self.fixture("windows-v1.snapshot")
        #expect(bytes[4] == 1)  // the version byte
        var settings = try Self.defaultSettings()
        settings.detailWindows = .max  // full detail, as windows were kept when the file was written
        let pipeline = IngestPipeline(settings: settings, logger: Logger(label: "test"))
        let (series, _) = try pipeline.restore(snapshot: bytes)
        #expect(series == 2)
        let pm25ID = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "s1")
        let pm25 = try #require(pipeline.seriesState(pm25ID))
        let hour = try #require(pm25.stats(window: "1h"))
        #expect(hour.count == 20 && hour.min == 10 && hour.max == 29)
        let meter = try #require(
            pipeline.seriesState(SeriesID(park: "p", zone: "z", pillar: .energy, kind: "energy", sensor: "m1")))
        #expect(meter.stats(window: "1h")?.increase == 95)  // 195 − 100
        // The seq memory is rebuilt from the raw ring: the last reading again is a duplicate.
        let last = Reading(value: 29, time: EventTime(milliseconds: 1_795_400_000_000 + 19 * 60_000), seq: 19)
        var copy = pm25
        #expect(copy.add(last) == .duplicate)
        // Saved again as version 4, it restores: its buckets sit where version 4 checks them.
        let again = IngestPipeline(settings: settings, logger: Logger(label: "test"))
        #expect(
            try again.restore(snapshot: pipeline.snapshot(at: EventTime(milliseconds: 1_795_400_000_000))).series == 2)
        #expect(again.seriesState(pm25ID)?.stats(window: "1h")?.count == 20)
    }

    @Test(
        "a version 3 snapshot (every bucket written) restores, and saves again as a smaller version 4 that reads the same"
    )
    func versionThree() throws {
        // Written by parkd 1dfad67 (`parkd run`, default windows, stopped with SIGTERM) from 20
        // readings a minute apart from 2026-12-03T16:26:00Z (1 796 315 160 000 ms) of a PM2.5
        // sensor s1, values 10…29, and of an energy meter m1, 100…195 kWh; and one error
        // reading of a PM10 sensor e1 at the first minute.
        let bytes = try Self.fixture("windows-v3.snapshot")
        #expect(bytes[4] == 3)  // the version byte
        let settings = try Self.defaultSettings()
        func restored(_ snapshot: [UInt8]) throws -> IngestPipeline {
            let pipeline = IngestPipeline(settings: settings, logger: Logger(label: "test"))
            #expect(try pipeline.restore(snapshot: snapshot).series == 3)
            return pipeline
        }
        let old = try restored(bytes)
        let s1 = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "s1")
        let m1 = SeriesID(park: "p", zone: "z", pillar: .energy, kind: "energy", sensor: "m1")
        let e1 = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm10", sensor: "e1")
        let hour = try #require(old.seriesState(s1)?.stats(window: "1h"))
        #expect(hour.count == 20 && hour.mean == 19.5)  // (10 + 29) / 2
        #expect(old.seriesState(m1)?.stats(window: "1h")?.increase == 95)  // 195 − 100
        let errors = try #require(old.seriesState(e1)?.stats(window: "1h"))
        #expect(errors.count == 0 && errors.errors == 1)
        // Saved again: version 4, a fraction of the size, and every window reads the same.
        let again = old.snapshot(at: EventTime(milliseconds: 1_796_316_600_000))
        #expect(again[4] == 4)
        // 5 390 bytes against 18 199: the 24 h window's 24 hourly buckets were written whole, 23 empty.
        #expect(again.count * 3 < bytes.count, "\(again.count) bytes against \(bytes.count)")
        let new = try restored(again)
        for id in [s1, m1, e1] {
            let a = try #require(old.seriesState(id))
            let b = try #require(new.seriesState(id))
            let now = try #require(a.watermark)
            #expect(a.counts == b.counts && a.watermark == b.watermark)
            for k in a.windows.indices {
                // As text: empty figures hold NaN, which never equals itself.
                #expect("\(a.window(k).buckets(endingAt: now))" == "\(b.window(k).buckets(endingAt: now))")
            }
        }
    }
}
