import Foundation
import Logging
import Synchronization
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

/// What real devices send by mistake, and what a hostile sender sends on purpose: each case
/// gets its counted reason, and good readings after it are still taken.
@Suite("Hostile input")
struct HostileInputTests {
    /// 2026-11-23T02:13:20Z
    static let now = EventTime(milliseconds: 1_795_400_000_000)

    static func configuration(_ extra: String = "") throws -> DaemonConfiguration {
        try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1"}
            topics:
              - {pattern: "parks/{park}/{zone}/{pillar}/{kind}/{sensor}"}
              - {pattern: "senml/{park}/{zone}/{pillar}/{kind}/{sensor}", format: senml}
              - {pattern: "application/+/device/{sensor}/event/up", fixed: {park: p, zone: lora, pillar: green, kind: lorawan}, format: chirpstack}
            payload: {max_bytes: 1048576}
            \(extra)
            """, file: "/nonexistent/hostile.yaml")
    }

    static func pipeline(_ extra: String = "", logger: Logger = Logger(label: "test")) throws -> IngestPipeline {
        IngestPipeline(settings: try configuration(extra).pipelineSettings, logger: logger)
    }

    func send(_ p: IngestPipeline, _ topic: String, _ payload: String, at time: EventTime = now, retained: Bool = false)
    {
        p.ingest(topic: topic, payload: Array(payload.utf8), arrival: time, retained: retained)
    }

    func good(_ p: IngestPipeline, sensor: String = "good", park: String = "p", at time: EventTime = now) {
        send(p, "parks/\(park)/z/emissions/pm25/\(sensor)", #"{"value": 20}"#, at: time)
    }

    @Test(
        "inputs that used to trap are refused with their reason, and good readings go on",
        arguments: [
            ("senml/p/z/emissions/pm25/s1", #"[{"bn":"d:","bt":1.7e18,"n":"pm25","v":41}]"#, RejectReason.badTime),
            ("senml/p/z/emissions/pm25/s1", #"[{"n":"s1","t":-1e300,"v":1}]"#, .badTime),
            ("senml/p/z/emissions/pm25/s1", #"[{"n":"s1","bt":1e999,"v":1}]"#, .badField),
            ("senml/p/z/emissions/pm25/s1", #"[{"bn":"a","bt":9.2e15,"v":1},{"n":"b","t":-1.8e16,"v":2}]"#, .badTime),
            ("senml/p/z/emissions/pm25/s1", #"[{"bn":"a","bt":-9.2e15,"v":1}]"#, .badTime),
            ("application/a/device/d1/event/up", #"{"object":{"temperature":1e999}}"#, .badField),
            ("parks/p/z/emissions/pm25/s1", #"{"value": 1, "ts": 1e300}"#, .badTime),
            ("parks/p/z/emissions/pm25/s1", #"{"value": 1, "seq": 1e300}"#, .badField),
        ])
    func formerCrashes(topic: String, payload: String, reason: RejectReason) throws {
        let p = try Self.pipeline("rule_files: [\"\(Self.root)/Deploy/rules/sensor-health.yaml\"]")
        send(p, topic, payload)
        for minute in 1...3 { good(p, at: EventTime(milliseconds: Self.now.milliseconds + Int64(minute) * 60_000)) }
        p.tick(at: EventTime(milliseconds: Self.now.milliseconds + 86_400_000))
        let totals = p.totals
        #expect(totals.rejected == [reason: 1])
        #expect(totals.accepted == 3)
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("a reading stamped in 2100 is future_time; the series' clock stays put and all 16 later readings count")
    func futureTime() throws {
        let p = try Self.pipeline()
        let topic = "parks/p/z/emissions/pm25/a1"
        send(p, topic, #"{"value": 20, "ts": "2100-01-01T00:00:00Z"}"#)
        for k in 1...16 {
            let t = EventTime(milliseconds: Self.now.milliseconds + Int64(k) * 60_000)
            send(p, topic, #"{"value": \#(k), "ts": \#(t.milliseconds)}"#, at: t)
        }
        let totals = p.totals
        #expect(totals.outcomes.futureTime == 1)
        #expect(totals.outcomes.accepted == 16)
        #expect(totals.outcomes.late == 0)
        let id = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "a1")
        #expect(p.seriesState(id)?.watermark == EventTime(milliseconds: Self.now.milliseconds + 16 * 60_000))
        // Once the series exists, a refusal is counted for it too; the summary line says both.
        send(p, topic, #"{"value": 20, "ts": "2100-01-01T00:00:00Z"}"#)
        let snapshot = p.takeInterval(from: Self.now, to: Self.now, details: true)
        let line = SummaryFormat.line(snapshot, from: Self.now, to: Self.now, utcOffsetMinutes: 420)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect((object["quality"] as? [String: Int])?["future_time"] == 2)
        let park = try #require((object["parks"] as? [[String: Any]])?.first)
        #expect((park["data_quality"] as? [String: Any])?["future_time"] as? Int == 1)
        #expect(snapshot.series.first?.interval.readings == 17)  // 16 accepted, then the refused one
    }

    @Test("1900 is too_old whether it comes as RFC 3339 or as epoch seconds; no series opens for it")
    func tooOld() throws {
        let p = try Self.pipeline()
        send(p, "parks/p/z/emissions/pm25/old1", #"{"value": 20, "ts": "1900-01-01T00:00:00Z"}"#)
        // 1900-01-01T00:00:00Z is -2 208 988 800 s.
        send(p, "parks/p/z/emissions/pm25/old2", #"{"value": 20, "ts": -2208988800}"#)
        #expect(p.totals.outcomes.tooOld == 2)
        #expect(p.totals.outcomes.accepted == 0)
        #expect(p.seriesCount == 0)
    }

    @Test("max_ahead and max_age are the configured bounds, to the millisecond")
    func timeBounds() throws {
        let p = try Self.pipeline("limits: {max_ahead: 1m, max_age: 1h}")
        let ms = Self.now.milliseconds
        for (offset, sensor) in [(60_000, "a"), (60_001, "b"), (-3_600_000, "c"), (-3_600_001, "d")] {
            send(p, "parks/p/z/emissions/pm25/\(sensor)", #"{"value": 1, "ts": \#(ms + Int64(offset))}"#)
        }
        let o = p.totals.outcomes
        #expect((o.accepted, o.futureTime, o.tooOld) == (2, 1, 1))
    }

    @Test("a payload of 6 000 numeric keys opens no series: unknown_kind for each")
    func manyKeysUnknown() throws {
        let p = try Self.pipeline()
        let payload = "{" + (0..<6000).map { "\"k\($0)\": \($0)" }.joined(separator: ",") + "}"
        send(p, "parks/p/z/emissions/multi/s1", payload)
        #expect(p.totals.rejected == [.unknownKind: 6000])
        #expect(p.seriesCount == 0)
    }

    @Test("with unknown kinds allowed, one message opens at most max_new_series_per_message series")
    func manyKeysCapped() throws {
        let p = try Self.pipeline("limits: {allow_unknown_kinds: true}")
        let payload = "{" + (0..<6000).map { "\"k\($0)\": \($0)" }.joined(separator: ",") + "}"
        send(p, "parks/p/z/emissions/multi/s1", payload)
        #expect(p.totals.rejected == [.messageSeriesLimit: 6000 - 64])
        #expect(p.seriesCount == 64)
        // The same message again: its 64 series exist, the rest still may not open.
        send(p, "parks/p/z/emissions/multi/s1", payload)
        #expect(p.seriesCount == 128)
    }

    @Test("a flood from one park fills its quota; a new sensor in another park is still accepted")
    func parkQuota() throws {
        let p = try Self.pipeline("limits: {max_series: 100, max_series_per_park: 40}")
        for k in 0..<500 { send(p, "parks/evil/z/emissions/pm25/s\(k)", #"{"value": 1}"#) }
        #expect(p.seriesCount == 40)
        #expect(p.totals.rejected == [.parkSeriesLimit: 460])
        good(p, sensor: "new-sensor", park: "bau-bang")
        #expect(p.totals.accepted == 41)
        #expect(p.seriesCount == 41)
    }

    @Test("series silent past series_ttl are evicted with their state, counted, and make room")
    func eviction() throws {
        let p = try Self.pipeline("limits: {max_series: 3, series_ttl: 1h}")
        for k in 0..<3 { good(p, sensor: "s\(k)") }
        for k in 0..<p.settings.schedules { _ = p.takeInterval(schedule: k) }  // no open interval holds them
        good(p, sensor: "s3")
        #expect(p.totals.rejected == [.parkSeriesLimit: 1])  // one park: its quota is max_series
        let later = EventTime(milliseconds: Self.now.milliseconds + 3_600_001)
        good(p, sensor: "s0", at: later)  // s0 speaks again: it stays
        p.tick(at: later)
        #expect(p.seriesCount == 1)
        #expect(p.status.seriesEvicted == 2)
        good(p, sensor: "s3", at: later)
        #expect(p.seriesCount == 2)
        #expect(p.totals.accepted == 5)
    }

    /// Before, every name that ever matched a compliance rule kept its tracker for good: months
    /// of DevEUI churn, or a counter in a topic, grew memory without end.
    @Test(
        "compliance trackers retire with their series; past the cap the longest retired idle ones go, the newest stay")
    func trackersFollowLiveSeries() throws {
        let p = try Self.pipeline(
            """
            limits: {max_series: 5000, series_ttl: 1h}
            windows: [{name: 24h, length: 24h, bucket: 1h}]
            rules: [{id: pm25-24h, severity: critical, reference: test, require_valid: true, match: {kind: pm25}, when: {window: 24h, stat: mean, above: 45}}]
            """)
        let churn = ComplianceStage.retiredCap + 200
        for k in 0..<churn { good(p, sensor: "churn-\(k)") }
        good(p, sensor: "station")  // retired last: among those kept
        #expect(p.complianceTrackerCount == churn + 1)
        // The day closes (its records written), and the silent hours after it.
        let dayAfter = EventTime(milliseconds: Self.now.milliseconds + 2 * 86_400_000)
        for k in 0..<p.settings.schedules { _ = p.takeInterval(schedule: k, from: Self.now, to: dayAfter) }
        p.tick(at: EventTime(milliseconds: dayAfter.milliseconds + 3_600_001))
        #expect(p.seriesCount == 0)
        // Evicted, they write no more silent hours; the day they were in closes, and then
        // nothing is open: past the cap, the longest retired go.
        let twoDaysAfter = EventTime(milliseconds: dayAfter.milliseconds + 2 * 86_400_000)
        for k in 0..<p.settings.schedules { _ = p.takeInterval(schedule: k, from: dayAfter, to: twoDaysAfter) }
        #expect(p.complianceTrackerCount == ComplianceStage.retiredCap)
        // The newest retired stay (their year to date, for a station that comes back); the oldest went.
        let kept = Set(p.complianceTrackers.map(\.0.sensor))
        #expect(kept.contains("station") && kept.contains("churn-\(churn - 1)"))
        #expect(!kept.contains("churn-0") && !kept.contains("churn-200") && kept.contains("churn-201"))  // 1 201 retired, 1 000 kept
    }

    @Test("SenML as RFC 8428 says: units, sums, must-understand fields, versions, non-numeric values")
    func senml() throws {
        let p = try Self.pipeline()
        let t = "senml/p/z/green/air_temperature/s1"
        send(p, t, #"[{"n":"air_temperature","u":"Cel","v":23.5}]"#)
        send(p, "senml/p/z/green/humidity/s1", #"[{"n":"humidity","u":"%RH","v":71}]"#)
        send(p, "senml/p/z/green/air_temperature/s2", #"[{"n":"air_temperature","u":"K","v":300.15}]"#)
        send(p, t, #"[{"n":"air_temperature","v":1,"x_":2}]"#)
        send(p, t, #"[{"bver":11,"n":"air_temperature","v":1}]"#)
        send(p, t, #"[{"n":"air_temperature","vs":"warm"}]"#)
        send(p, "senml/p/z/energy/energy/m1", #"[{"n":"energy","bs":1000,"s":5,"u":"kWh"}]"#)
        let totals = p.totals
        #expect(totals.accepted == 4)
        #expect(totals.rejected == [.badField: 3])
        func last(_ kind: String, _ sensor: String, _ pillar: Pillar = .green) -> Double? {
            p.seriesState(SeriesID(park: "p", zone: "z", pillar: pillar, kind: kind, sensor: sensor))?.raw.readings
                .last?.value
        }
        #expect(last("air_temperature", "s1") == 23.5)
        #expect(last("humidity", "s1") == 71)
        #expect(abs((last("air_temperature", "s2") ?? 0) - 27) < 1e-9)  // 300.15 K − 273.15
        #expect(last("energy", "m1", .energy) == 1005)  // bs + s
    }

    @Test("topics with U+0000, control characters or wildcards are bad_topic; names from payloads are checked")
    func topicsAndNames() throws {
        let p = try Self.pipeline("limits: {allow_unknown_kinds: true}")
        send(p, "parks/p/z/emissions/pm25/\u{0}s1", #"{"value": 1}"#)
        send(p, "parks/p/z/emissions/pm25/s\u{1b}[31m", #"{"value": 1}"#)
        send(p, "parks/p/z/emissions/pm25/+", #"{"value": 1}"#)
        send(p, "parks/p/z/emissions/multi/s1", #"{"pm25;": 1, "ok.name": 2, "a b": 3}"#)
        #expect(p.totals.rejected == [.badTopic: 3, .badName: 2])
        #expect(p.totals.accepted == 1)
    }

    @Test(
        "kind and park names a sender cycles through are forgotten with their series: the tables do not grow without end"
    )
    func namesForgottenWithSeries() throws {
        let extra = "limits: {allow_unknown_kinds: true, series_ttl: 1h}"
        let p = try Self.pipeline(extra)
        let schedules = try Self.configuration(extra).summaries.intervals.indices
        let held = { p.state.withLock { $0.table.heldNames } }
        let accounted = { p.state.withLock { $0.accounting.heldNames } }
        // Three rounds of 200 throw-away names, and a healthy sensor that keeps reporting. The
        // junk comes first, so the healthy sensor's kind, key and park move down when it goes.
        for round in 0..<3 {
            let start = EventTime(milliseconds: Self.now.milliseconds + Int64(round) * 7_200_000)
            for k in 0..<200 {
                send(p, "parks/junk\(round)-\(k)/z/emissions/kind\(round)-\(k)/s", #"{"value": 1}"#, at: start)
            }
            send(p, "parks/real/z/emissions/pm25/s1", #"{"value": 20}"#, at: start)
            #expect(held() == (kinds: 201, parks: 201))
            #expect(accounted() == (keys: 201, parks: 201))
            // Every summary interval closes and an hour and a minute pass in silence: the junk is evicted.
            let later = EventTime(milliseconds: start.milliseconds + 3_660_000)
            for k in schedules { _ = p.takeInterval(schedule: k, from: start, to: later) }
            send(p, "parks/real/z/emissions/pm25/s1", #"{"value": 21}"#, at: later)
            p.tick(at: later)
            // Before: 201, 401 and 601 kinds and parks, one entry per name ever seen.
            #expect(held() == (kinds: 1, parks: 1))
            // Park accounting too: its figures per (park, pillar, kind), and its parks.
            #expect(accounted() == (keys: 1, parks: 1))
            #expect(p.seriesCount == 1)
            // The healthy sensor's figures are still its own: its reading after the eviction is
            // counted under its park, pillar and kind, and no junk park is summarised.
            let next = EventTime(milliseconds: later.milliseconds + 60_000)
            let parks = p.takeInterval(schedule: 0, from: later, to: next).parks
            #expect(parks.map(\.park) == ["real"])
            #expect(parks.first?.readings == 1 && parks.first?.knownSensors == 1)
            #expect(parks.first?.means["pm25"] == 21)
        }
        // What stays is read as before: the PM2.5 series keeps its kind's catalog entry.
        #expect(p.state.withLock { $0.table.kind(0)?.unit } == "ug/m3")
    }

    @Test("a retained reading is counted once and is no sign of life for stale rules")
    func retained() throws {
        let p = try Self.pipeline(#"rules: [{id: stale, description: "silent", severity: warning, stale: 2h}]"#)
        let topic = "parks/p/z/emissions/pm25/s1"
        let payload = #"{"value": 20, "ts": \#(Self.now.milliseconds)}"#
        send(p, topic, payload)
        p.tick(at: Self.now)
        // The broker redelivers the retained copy on every resubscribe.
        let later = EventTime(milliseconds: Self.now.milliseconds + 7_100_000)
        send(p, topic, payload, at: later, retained: true)
        send(p, "parks/p/z/emissions/pm25/s2", #"{"value": 5}"#, at: later, retained: true)
        p.tick(at: EventTime(milliseconds: Self.now.milliseconds + 7_200_001))
        let alerts = p.takeAlerts()
        #expect(alerts.map(\.state) == [.firing])
        #expect(alerts.first?.series.sensor == "s1")
        let o = p.totals.outcomes
        #expect((o.accepted, o.duplicate, o.retained) == (1, 1, 1))
    }

    /// Collects log lines, to see what reaches the journal.
    final class Capture: LogHandler, @unchecked Sendable {
        let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let extra = (event.metadata ?? [:]).map { "\($0)=\($1)" }.sorted().joined(separator: " ")
            lines.withLock { $0.append("\(event.message) \(extra)") }
        }
    }

    @Test("text from the wire cannot write a line of its own into the log")
    func logInjection() throws {
        let capture = Capture()
        let p = try Self.pipeline(logger: Logger(label: "test", factory: { _ in capture }))
        send(p, "parks/p/z/emissions/pm25/s1", "{\"value\": 1, \"status\": \"ok\\nFAKE parkd: all clear\\u001b[2J\"}")
        send(p, "parks/p/z/emissions/pm25/s1", "not json\n\u{1b}]0;owned\u{7}")
        let lines = capture.lines.withLock { $0 }
        #expect(lines.count == 2)
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }, "\(line)")
        }
        #expect(lines[0].contains(#"ok\x0aFAKE parkd: all clear\x1b[2J"#))
    }

    @Test("parkd tail escapes control sequences that reached a file")
    func tailEscapes() {
        let tail = Tail(kind: .alerts, path: "/dev/null", filter: .init(), json: false, colour: false)
        let line =
            #"{"state":"firing","severity":"warning","at":"2026-11-23T10:00:00+07:00","rule":"r\u001b[31m","message":"x\u009b2J\u2028y"}"#
        let shown = tail.render(line) ?? ""
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || (0x7f..<0xa0).contains($0.value) })
        #expect(shown.contains(#"r\x1b[31m"#) && shown.contains(#"x\x9b2J\u{2028}y"#))
        let json = Tail(kind: .alerts, path: "/dev/null", filter: .init(), json: true, colour: false)
        #expect(json.render(#"{"rule":"a\\b"}"#) == #"{"rule":"a\\b"}"#)  // clean lines pass unchanged
    }

    @Test("a kind with a quote or a backslash from a topic still gives summary lines that are JSON")
    func quotedKinds() throws {
        let p = try Self.pipeline("limits: {allow_unknown_kinds: true}")
        send(p, #"parks/p/z/emissions/pm"2\5/s1"#, #"{"value": 1}"#)
        let later = EventTime(milliseconds: Self.now.milliseconds + 60_000)
        let line = SummaryFormat.line(
            p.takeInterval(from: Self.now, to: later), from: Self.now, to: later, utcOffsetMinutes: 420)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let parks = try #require(object["parks"] as? [[String: Any]])
        #expect((parks.first?["means"] as? [String: Double])?[#"pm"2\5"#] == 1)
    }
}
