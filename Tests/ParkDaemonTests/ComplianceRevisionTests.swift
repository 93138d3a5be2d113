import BrokerHarness
import Foundation
import Logging
import Testing

@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest
@testable import TelemetryCore

@Suite("Compliance records revised by late data")
struct ComplianceRevisionTests {
    /// 2026-11-23T00:00:00+07:00.
    static let day0 = ComplianceTests.day0
    static let nine = day0 + 9 * 3_600_000

    static func pipeline() throws -> IngestPipeline {
        let c = try DaemonConfiguration.parse(
            "broker: {url: mqtt://127.0.0.1}\nrule_files: [\(PackWindowTests.rules)/qcvn26-2010-noise.yaml]\n"
                + "parks: {p: {zones: {z: ordinary}}}\n",
            file: "/etc/parkd/p.yaml")
        return IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
    }

    static func send(_ p: IngestPipeline, at time: Int64, value: Double, arrival: Int64) {
        p.ingest(
            topic: "parks/p/z/emissions/noise/n1", payload: Array(#"{"value": \#(value), "ts": \#(time)}"#.utf8),
            arrival: EventTime(milliseconds: arrival))
    }

    /// The hourly records of the 10:00 hour in a snapshot.
    static func ten(_ s: IngestPipeline.Snapshot) -> [ComplianceRecord] {
        s.compliance.filter { $0.closed.period == .hour && $0.closed.start.milliseconds == nine + 3_600_000 }
    }

    @Test("an hour's backlog resent after an outage re-issues the silent hour as revision 1, with its late samples")
    func backlog() throws {
        let p = try Self.pipeline()
        // 09:00–09:59 live, one reading a minute at 50 dBA.
        for m in 0..<60 {
            let t = Self.nine + Int64(m) * 60_000
            Self.send(p, at: t, value: 50, arrival: t)
        }
        // The datalogger loses its link from 10:00 to 11:00; live readings resume at 11:00 (60 dBA).
        for m in 0..<20 {
            let t = Self.nine + 2 * 3_600_000 + Int64(m) * 60_000
            Self.send(p, at: t, value: 60, arrival: t)
        }
        // The 11:06 summary boundary: the 10:00 hour is past its lateness and closes silent.
        let first = p.takeInterval(
            from: EventTime(milliseconds: Self.nine), to: EventTime(milliseconds: Self.nine + 2 * 3_600_000 + 360_000))
        let silent = try #require(Self.ten(first).first)
        #expect(silent.closed.samples == 0 && !silent.closed.valid && silent.closed.revision == 0)
        #expect(ComplianceFormat.json(silent, utcOffsetMinutes: 420).contains(#""value":null"#))
        // At 11:20 it resends 10:00–10:59 at 56 dBA: 80 minutes older than the series' newest
        // reading, too late for the rolling windows, not for the 24-hour revision horizon.
        let arrival = Self.nine + 2 * 3_600_000 + 20 * 60_000
        for m in 0..<60 { Self.send(p, at: Self.nine + 3_600_000 + Int64(m) * 60_000, value: 56, arrival: arrival) }
        // The same backlog resent again (a datalogger that did not see its acknowledgement): repeats, not samples.
        for m in 0..<60 { Self.send(p, at: Self.nine + 3_600_000 + Int64(m) * 60_000, value: 56, arrival: arrival) }
        // Not at the next boundary: a backlog may still be trickling in.
        let early = p.takeInterval(
            from: EventTime(milliseconds: arrival - 840_000), to: EventTime(milliseconds: arrival + 60_000))
        #expect(Self.ten(early).isEmpty)
        // Once the lateness (5 min) has passed since its last reading, the hour is re-issued.
        let second = p.takeInterval(
            from: EventTime(milliseconds: arrival + 60_000), to: EventTime(milliseconds: arrival + 300_000))
        let revised = try #require(Self.ten(second).first)
        // 60 readings at 56 dBA a minute apart: LAeq 56, all four quarters, revision 1, 60 late.
        #expect(revised.closed.revision == 1 && revised.closed.late == 60 && revised.closed.samples == 60)
        #expect(abs(revised.closed.value! - 56) < 1e-9 && revised.closed.valid && revised.closed.capture == 1)
        let line = ComplianceFormat.json(revised, utcOffsetMinutes: 420)
        #expect(line.contains(#""revision":1"#) && line.contains(#""late":60"#))
        // The revision is written once: the next boundary has no record of 10:00.
        let third = p.takeInterval(
            from: EventTime(milliseconds: arrival + 300_000), to: EventTime(milliseconds: arrival + 360_000))
        #expect(Self.ten(third).isEmpty)
        // The series' windows counted the backlog late, as before.
        #expect(p.totals.outcomes.late == 120)
    }

    @Test("the history store keeps the latest revision of a record, whatever order they are written in")
    func historyKeepsLatest() throws {
        let directory = try Scratch.makeDirectory(prefix: "history-revision")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try HistoryStore(path: directory.appendingPathComponent("h.sqlite").path)
        let id = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "noise", sensor: "n1")
        func record(revision: Int, value: Double?) -> (ComplianceRecord, String) {
            var closed = ClosedPeriod(
                period: .hour, start: EventTime(milliseconds: Self.nine),
                end: EventTime(milliseconds: Self.nine + 3_600_000),
                value: value, max: value, covered: value == nil ? 0 : 4, parts: 4, valid: value != nil,
                samples: value == nil ? 0 : 60)
            closed.revision = revision
            let r = ComplianceRecord(
                rule: "qcvn26-noise-day", reference: nil, series: id, closed: closed, statistic: .leq, limit: 70,
                above: true)
            return (r, ComplianceFormat.json(r, utcOffsetMinutes: 420))
        }
        for (revision, value) in [(0, nil), (2, 72.0), (1, 56.0)] as [(Int, Double?)] {
            var batch = HistoryBatch()
            batch.at = Self.nine
            batch.compliance = [record(revision: revision, value: value)]
            try store.write(batch, retention: HistoryRetention())
        }
        let reader = try HistoryReader(
            path: directory.appendingPathComponent("h.sqlite").path, utcOffsetMinutes: 420)
        let lines = try reader.compliance(
            rule: String?.none, park: String?.none, from: Self.nine, to: Self.nine + 3_600_000)
        // Revision 2 stays although revision 1 came after it (a retried batch).
        #expect(lines.count == 1 && lines[0].contains(#""revision":2"#) && lines[0].contains(#""value":72"#))
    }

    @Test("a station restored from the state file that reads again is live: its silent hours are written")
    func restoredIsLive() throws {
        let first = try Self.pipeline()
        for m in 0..<60 {
            Self.send(first, at: Self.nine + Int64(m) * 60_000, value: 50, arrival: Self.nine + Int64(m) * 60_000)
        }
        let directory = try Scratch.makeDirectory(prefix: "compliance-live")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("compliance.json").path
        try ComplianceState.save(first, to: path, at: EventTime(milliseconds: Self.nine + 3_600_000))
        let second = try Self.pipeline()
        ComplianceState.restore(second, from: path, logger: Logger(label: "test"))
        // 10:00–10:29 after the restart, then silence until 14:10.
        for m in 0..<30 {
            let t = Self.nine + 3_600_000 + Int64(m) * 60_000
            Self.send(second, at: t, value: 50, arrival: t)
        }
        let snapshot = second.takeInterval(
            from: EventTime(milliseconds: Self.nine), to: EventTime(milliseconds: Self.nine + 5 * 3_600_000 + 600_000))
        let hours = snapshot.compliance.filter { $0.closed.period == .hour && $0.rule == "qcvn26-noise-day" }
            .map { ($0.closed.start.milliseconds - Self.nine) / 3_600_000 }
        // 09:00 and 10:00 with readings, 11:00, 12:00, 13:00 silent. Before, a restored station
        // stayed "retired" and its silent hours were skipped.
        #expect(hours == [0, 1, 2, 3, 4], "\(hours)")
    }

    @Test("two hours revised in one pass: each 8-hour mean holding them is re-issued once, from both")
    func eightHoursOnce() {
        var tracker = ComplianceTracker(
            periods: [.hour, .eightHours], decibels: false, validity: ValidityRule(),
            calendar: ComplianceTests.calendar,
            policy: CompliancePolicy(latenessMilliseconds: 0))
        var closed: [ClosedPeriod] = []
        let day0 = Self.day0
        // 00:00–11:59 a reading a minute at 10, except 04:00–05:59 (silent: written empty).
        for m in 0..<720 where !(240..<360).contains(m) {
            tracker.add(10, at: EventTime(milliseconds: day0 + Int64(m) * 60_000), into: &closed)
        }
        tracker.advance(to: EventTime(milliseconds: day0 + 12 * 3_600_000), into: &closed)
        closed.removeAll()
        // The 04:00 and 05:00 hours arrive late, at 20, in one backlog.
        for m in 240..<360 {
            tracker.add(
                20, at: EventTime(milliseconds: day0 + Int64(m) * 60_000),
                arrival: EventTime(milliseconds: day0 + 12 * 3_600_000), into: &closed)
        }
        tracker.advance(to: EventTime(milliseconds: day0 + 12 * 3_600_000 + 1), into: &closed)
        let eights = closed.filter { $0.period == .eightHours }
        // Means ending 05:00 … 12:00 hold one or both hours: 8 of them, each once, revision 1.
        #expect(eights.map { ($0.end.milliseconds - day0) / 3_600_000 } == Array(5...12))
        #expect(eights.allSatisfy { $0.revision == 1 })
        // Ending 12:00 (04:00–11:00): 04 and 05 at 20, six hours at 10: (2·20 + 6·10) / 8 = 12.5.
        #expect(eights.last?.value == 12.5 && eights.last?.valid == true)
    }

    @Test(
        "a late hour still settling is re-issued on the first pass after it is quiet, once, saved and restored or not")
    func reissueWaitsForQuiet() throws {
        var tracker = ComplianceTracker(
            periods: [.hour], decibels: false, validity: ValidityRule(), calendar: ComplianceTests.calendar,
            policy: CompliancePolicy(latenessMilliseconds: 60_000))
        var closed: [ClosedPeriod] = []
        let day0 = Self.day0
        func at(_ minutes: Int64) -> EventTime { EventTime(milliseconds: day0 + minutes * 60_000) }
        // 00:00–01:59 a reading a minute at 10; the 00:00 hour closes a minute after 01:00.
        for m in Int64(0)..<120 { tracker.add(10, at: at(m), into: &closed) }
        tracker.advance(to: at(125), into: &closed)
        #expect(closed.filter { $0.period == .hour }.map(\.revision) == [0, 0])
        closed.removeAll()
        // 00:30:30 arrives at 02:05: the hour takes it, and waits a minute of quiet for more.
        tracker.add(40, at: EventTime(milliseconds: day0 + 30 * 60_000 + 30_000), arrival: at(125), into: &closed)
        tracker.advance(to: EventTime(milliseconds: day0 + 125 * 60_000 + 30_000), into: &closed)
        #expect(closed.isEmpty)  // not quiet yet: a pass that finds nothing must not forget the hour
        // Saved and restored between passes, or not: the next quiet pass re-issues it, once.
        var restored = try JSONDecoder().decode(ComplianceTracker.self, from: JSONEncoder().encode(tracker))
        restored.policy = tracker.policy  // as the compliance stage does: the policy is the configuration's
        #expect(restored == tracker)
        for var copy in [tracker, restored] {
            var out: [ClosedPeriod] = []
            copy.advance(to: at(127), into: &out)
            let hours = out.filter { $0.period == .hour }
            #expect(hours.map(\.start) == [at(0)] && hours.map(\.revision) == [1])
            // 59 readings at 10 and one at 40 in the half minute after 00:30, weighted by the time
            // each stands for: the revised mean is above 10 and below 40.
            #expect(hours.first.flatMap(\.value).map { $0 > 10 && $0 < 40 } == true)
            out.removeAll()
            copy.advance(to: at(128), into: &out)
            #expect(out.filter { $0.period == .hour }.isEmpty)
        }
    }
}
