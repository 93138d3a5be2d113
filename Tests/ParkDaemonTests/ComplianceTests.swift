import Foundation
import Logging
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest
@testable import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Compliance periods")
struct ComplianceTests {
    static let calendar = LocalCalendar(utcOffsetMinutes: 420)
    /// 2026-11-23T00:00:00+07:00.
    static let day0 = Int64(1_795_366_800_000)

    @Test("hour, 8-hour and day values equal a brute-force computation over random feeds (20 seeds)")
    func property() {
        for seed in 0..<20 {
            var rng = SplitMix(seed: UInt64(seed))
            var tracker = ComplianceTracker(
                periods: [.hour, .eightHours, .day], decibels: seed % 2 == 1, validity: ValidityRule(),
                calendar: Self.calendar)
            var closed: [ClosedPeriod] = []
            // Two days of readings at random minutes; some hours thin (fewer quarters), some empty.
            var readings: [(Int64, Double)] = []
            var t = Self.day0
            while t < Self.day0 + 2 * 86_400_000 {
                t += Int64(rng.next() % 40 + 1) * 60_000
                if t >= Self.day0 + 2 * 86_400_000 { break }
                if (t / 3_600_000) % 7 == Int64(seed % 7) { continue }  // a gap hour
                readings.append((t, Double(rng.next() % 1000) / 10 + 30))
            }
            for (time, value) in readings { tracker.add(value, at: EventTime(milliseconds: time), into: &closed) }
            tracker.advance(to: EventTime(milliseconds: Self.day0 + 3 * 86_400_000), into: &closed)
            let decibels = seed % 2 == 1
            func average(_ values: [Double]) -> Double {
                decibels
                    ? 10 * log10(values.map { pow(10, $0 / 10) }.reduce(0, +) / Double(values.count))
                    : values.reduce(0, +) / Double(values.count)
            }
            // Brute force: hourly values and validity from the raw readings.
            var hourly: [Int64: (value: Double, valid: Bool)] = [:]
            for hour in Set(readings.map { $0.0 / 3_600_000 * 3_600_000 }) {
                let inside = readings.filter { $0.0 >= hour && $0.0 < hour + 3_600_000 }
                let quarters = Set(inside.map { ($0.0 - hour) / 900_000 }).count
                hourly[hour] = (average(inside.map(\.1)), quarters >= 3)
            }
            for period in closed {
                let start = period.start.milliseconds
                switch period.period {
                case .hour:
                    #expect(abs(period.value! - hourly[start]!.value) < 1e-9 && period.valid == hourly[start]!.valid)
                case .eightHours, .day:
                    let span: Int64 = period.period == .day ? 86_400_000 : 8 * 3_600_000
                    let valid = hourly.filter { $0.key >= start && $0.key < start + span && $0.value.valid }
                        .sorted { $0.key < $1.key }.map(\.value.value)
                    #expect(period.covered == valid.count, "seed \(seed) \(period.period) at \(start)")
                    if !valid.isEmpty { #expect(abs(period.value! - average(valid)) < 1e-9) }
                    let needed = period.period == .day ? 18 : 6
                    #expect(period.valid == (valid.count >= needed))
                case .year: break
                }
            }
            // Every hour with data was closed once, and both days.
            #expect(closed.filter { $0.period == .hour }.count == hourly.count)
            #expect(closed.filter { $0.period == .day }.count == 2)
        }
    }

    @Test("a late reading for a closed hour is counted, not averaged")
    func late() {
        var tracker = ComplianceTracker(
            periods: [.hour], decibels: false, validity: ValidityRule(), calendar: Self.calendar)
        var closed: [ClosedPeriod] = []
        tracker.add(10, at: EventTime(milliseconds: Self.day0 + 3_600_000), into: &closed)
        tracker.add(99, at: EventTime(milliseconds: Self.day0 + 1_800_000), into: &closed)
        #expect(tracker.late == 1)
        tracker.advance(to: EventTime(milliseconds: Self.day0 + 7_200_000), into: &closed)
        #expect(closed.map(\.value) == [10])
    }

    @Test("the open periods survive a restart through the state file: the day's record covers all 24 hours")
    func restart() throws {
        let rules = PackWindowTests.rules
        let c = try DaemonConfiguration.parse(
            "broker: {url: mqtt://127.0.0.1}\nrule_files: [\(rules)/qcvn05-2023-ambient-air.yaml]\n",
            file: "/etc/parkd/p.yaml")
        func send(_ p: IngestPipeline, quarter: Int, value: Double) {
            let time = Self.day0 + Int64(quarter) * 900_000
            p.ingest(
                topic: "parks/p/z/emissions/pm25/a1", payload: Array(#"{"value": \#(value), "ts": \#(time)}"#.utf8),
                arrival: EventTime(milliseconds: time))
        }
        let first = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        for quarter in 0..<48 { send(first, quarter: quarter, value: 20) }  // 00:00–11:45 at 20
        let path = NSTemporaryDirectory() + "compliance-\(getpid()).json"
        defer { unlink(path) }
        try ComplianceState.save(first, to: path, at: EventTime(milliseconds: Self.day0 + 12 * 3_600_000))
        let second = IngestPipeline(settings: c.pipelineSettings, logger: Logger(label: "test"))
        ComplianceState.restore(second, from: path, logger: Logger(label: "test"))
        for quarter in 48..<97 { send(second, quarter: quarter, value: 50) }  // 12:00–00:00 at 50
        let snapshot = second.takeInterval(
            from: EventTime(milliseconds: Self.day0), to: EventTime(milliseconds: Self.day0 + 86_400_000))
        let day = try #require(snapshot.compliance.first { $0.closed.period == .day })
        // (12·20 + 12·50) / 24 = 35, every hour valid: the morning came through the state file.
        #expect(day.closed.value == 35 && day.closed.covered == 24 && day.closed.valid)
        #expect(day.limit == 45 && !day.exceeded)
    }
}

/// A small deterministic generator for property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Compliance periods are written once")
struct CompliancePeriodOnceTests {
    @Test("a reading in an hour or day closed by a summary boundary does not reopen it")
    func noReopen() {
        let day0 = ComplianceTests.day0
        var tracker = ComplianceTracker(
            periods: [.hour, .day], decibels: false, validity: ValidityRule(), calendar: ComplianceTests.calendar)
        var closed: [ClosedPeriod] = []
        tracker.add(10, at: EventTime(milliseconds: day0 + 23 * 3_600_000 + 60_000), into: &closed)
        // The day's boundary passes (a summary line closes): hour 23:00 and the day close.
        tracker.advance(to: EventTime(milliseconds: day0 + 86_400_000), into: &closed)
        #expect(closed.map(\.period) == [.hour, .day])
        // A late reading of 23:30 arrives afterwards: counted late, nothing closes twice.
        tracker.add(20, at: EventTime(milliseconds: day0 + 23 * 3_600_000 + 1_800_000), into: &closed)
        tracker.advance(to: EventTime(milliseconds: day0 + 2 * 86_400_000), into: &closed)
        #expect(closed.count == 2 && tracker.late == 1)
    }
}
