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

    /// Periods that close at their end and are never revised: the brute-force checks below
    /// compare first issues only.
    static let immediate = CompliancePolicy(latenessMilliseconds: 0, reviseMilliseconds: 0)

    @Test("hour, 8-hour and day values equal a brute-force, time-weighted computation over random feeds (20 seeds)")
    func property() {
        for seed in 0..<20 {
            var rng = SplitMix(seed: UInt64(seed))
            let decibels = seed % 2 == 1
            var tracker = ComplianceTracker(
                periods: [.hour, .eightHours, .day], decibels: decibels, validity: ValidityRule(),
                calendar: Self.calendar, policy: Self.immediate)
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
            func energy(_ v: Double) -> Double { decibels ? pow(10, v / 10) : v }
            func average(_ values: [Double]) -> Double {
                let mean = values.map(energy).reduce(0, +) / Double(values.count)
                return decibels ? 10 * log10(mean) : mean
            }
            // Brute force: each reading stands until the next one, at most 15 min; the last one
            // as long as the one before it did.
            var credit: [Int64] = []
            for k in readings.indices {
                if k + 1 < readings.count {
                    credit.append(min(readings[k + 1].0 - readings[k].0, 900_000))
                } else {
                    credit.append(credit.last ?? 900_000)
                }
            }
            var hourly: [Int64: (value: Double, valid: Bool)] = [:]
            for hour in Set(readings.map { $0.0 / 3_600_000 * 3_600_000 }) {
                let inside = readings.indices.filter { readings[$0].0 >= hour && readings[$0].0 < hour + 3_600_000 }
                let weight = inside.map { Double(credit[$0]) }.reduce(0, +)
                let sum = inside.map { Double(credit[$0]) * energy(readings[$0].1) }.reduce(0, +)
                let quarters = Set(inside.map { (readings[$0].0 - hour) / 900_000 }).count
                hourly[hour] = (decibels ? 10 * log10(sum / weight) : sum / weight, quarters >= 3)
            }
            for period in closed {
                let start = period.start.milliseconds
                switch period.period {
                case .hour:
                    if let expected = hourly[start] {
                        #expect(abs(period.value! - expected.value) < 1e-9 && period.valid == expected.valid)
                    } else {
                        // A silent hour is written too: no value, nothing covered.
                        #expect(period.value == nil && !period.valid && period.samples == 0 && period.capture == 0)
                    }
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
            // Every hour from the first reading's to the end was written once, and all three days.
            let first = readings[0].0 / 3_600_000 * 3_600_000
            #expect(closed.filter { $0.period == .hour }.count == Int((Self.day0 + 3 * 86_400_000 - first) / 3_600_000))
            #expect(
                Set(closed.filter { $0.period == .hour }.map(\.start)).count
                    == closed.filter { $0.period == .hour }.count)
            #expect(closed.filter { $0.period == .day }.count == 3)
        }
    }

    @Test("irregular reporting: 10 readings at 55 dBA over 50 min and 600 at 80 over 10 min make 72.3, not 79.9")
    func timeWeighted() {
        var tracker = ComplianceTracker(
            periods: [.hour], decibels: true, validity: ValidityRule(), calendar: Self.calendar)
        var closed: [ClosedPeriod] = []
        let ten = Self.day0 + 10 * 3_600_000
        // 10:00, 10:05 … 10:45 at 55 dBA: each stands 5 min until the next (50 min in all).
        for k in 0..<10 { tracker.add(55, at: EventTime(milliseconds: ten + Int64(k) * 300_000), into: &closed) }
        // 10:50:00 … 10:59:59 at 80 dBA, one a second: 1 s each (10 min); then 11:00:00.
        for k in 0..<600 {
            tracker.add(80, at: EventTime(milliseconds: ten + 3_000_000 + Int64(k) * 1000), into: &closed)
        }
        tracker.add(55, at: EventTime(milliseconds: ten + 3_600_000), into: &closed)
        tracker.advance(to: EventTime(milliseconds: ten + 2 * 3_600_000), into: &closed)
        let hour = closed.first { $0.start.milliseconds == ten }!
        // 10·log10((50·10^5.5 + 10·10^8) / 60) = 10·log10(16 929 523) = 72.286 dBA. Weighted by
        // reading, 10·log10((10·10^5.5 + 600·10^8) / 610) = 79.93 dBA.
        #expect(abs(hour.value! - 72.286) < 0.001, "\(hour.value!)")
        #expect(hour.samples == 610 && hour.valid && hour.max == 80)
        // A regular feed is unchanged: one reading a minute averages as the plain mean.
        var regular = ComplianceTracker(
            periods: [.hour], decibels: false, validity: ValidityRule(), calendar: Self.calendar)
        var regularClosed: [ClosedPeriod] = []
        for minute in 0...60 {
            regular.add(
                Double(minute % 7), at: EventTime(milliseconds: ten + Int64(minute) * 60_000), into: &regularClosed)
        }
        regular.advance(to: EventTime(milliseconds: ten + 2 * 3_600_000), into: &regularClosed)
        // Minutes 0–59 of (minute mod 7): 8 full cycles of 0…6 (sum 21 each, 168) plus 0, 1, 2, 3 = 174; /60 = 2.9.
        #expect(abs(regularClosed.first { $0.start.milliseconds == ten }!.value! - 2.9) < 1e-12)
    }

    @Test("a station silent for 12 hours: twelve hours written with capture 0, the day's capture 12/24")
    func silentHours() {
        var tracker = ComplianceTracker(
            periods: [.hour, .day], decibels: false, validity: ValidityRule(), calendar: Self.calendar)
        var closed: [ClosedPeriod] = []
        // 00:00–11:59 one reading a minute at 20; then nothing until the day is over.
        for minute in 0..<720 {
            tracker.add(20, at: EventTime(milliseconds: Self.day0 + Int64(minute) * 60_000), into: &closed)
        }
        tracker.advance(to: EventTime(milliseconds: Self.day0 + 86_400_000 + 600_000), into: &closed)
        let hours = closed.filter { $0.period == .hour }
        #expect(hours.count == 24)
        let silent = hours.filter { $0.start.milliseconds >= Self.day0 + 12 * 3_600_000 }
        #expect(
            silent.count == 12
                && silent.allSatisfy { !$0.valid && $0.value == nil && $0.samples == 0 && $0.capture == 0 })
        let day = closed.first { $0.period == .day }!
        // 12 valid hours of 24: capture 0.5, under the 18 hours a valid day needs.
        #expect(day.covered == 12 && day.parts == 24 && day.capture == 0.5 && !day.valid && day.value == 20)
    }

    @Test("09:59:30 delivered at 10:00:20, after a 10:00:10 reading: within the lateness, the 09:00 hour takes it")
    func withinLateness() {
        var tracker = ComplianceTracker(
            periods: [.hour], decibels: false, validity: ValidityRule(), calendar: Self.calendar)
        var closed: [ClosedPeriod] = []
        let nine = Self.day0 + 9 * 3_600_000
        for minute in 0..<59 {
            tracker.add(10, at: EventTime(milliseconds: nine + Int64(minute) * 60_000 + 30_000), into: &closed)
        }
        tracker.add(40, at: EventTime(milliseconds: nine + 3_610_000), into: &closed)  // 10:00:10
        tracker.add(70, at: EventTime(milliseconds: nine + 3_570_000), into: &closed)  // 09:59:30, late
        #expect(closed.isEmpty)  // the hour waits out the 5 minutes' lateness
        tracker.advance(to: EventTime(milliseconds: nine + 3_600_000 + 300_000), into: &closed)
        let hour = closed.first!
        // 59 readings at 10 standing 1 min each and 70 standing 40 s (until 10:00:10):
        // (59·60·10 + 40·70) / (59·60 + 40) = (35 400 + 2 800) / 3 580 = 10.670 391…
        #expect(hour.samples == 60 && hour.revision == 0 && hour.late == 0 && tracker.late == 0)
        #expect(abs(hour.value! - 38_200.0 / 3_580.0) < 1e-9)
    }

    @Test("a reading older than revise_within is counted late, not averaged; a closed hour is never reopened")
    func late() {
        var tracker = ComplianceTracker(
            periods: [.hour], decibels: false, validity: ValidityRule(), calendar: Self.calendar, policy: Self.immediate
        )
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
            from: EventTime(milliseconds: Self.day0), to: EventTime(milliseconds: Self.day0 + 86_400_000), final: true)
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
            periods: [.hour, .day], decibels: false, validity: ValidityRule(), calendar: ComplianceTests.calendar,
            policy: ComplianceTests.immediate)
        var closed: [ClosedPeriod] = []
        tracker.add(10, at: EventTime(milliseconds: day0 + 23 * 3_600_000 + 60_000), into: &closed)
        // The day's boundary passes (a summary line closes): hour 23:00 and the day close.
        tracker.advance(to: EventTime(milliseconds: day0 + 86_400_000), into: &closed)
        #expect(closed.map(\.period) == [.hour, .day])
        // A late reading of 23:30 arrives afterwards: counted late, nothing closes twice.
        tracker.add(20, at: EventTime(milliseconds: day0 + 23 * 3_600_000 + 1_800_000), into: &closed)
        tracker.advance(to: EventTime(milliseconds: day0 + 2 * 86_400_000), into: &closed)
        // The 23:00 hour and the day were written once; what follows is the next, silent day.
        #expect(closed.filter { $0.start.milliseconds == day0 + 23 * 3_600_000 && $0.period == .hour }.count == 1)
        #expect(closed.filter { $0.period == .day }.map(\.start.milliseconds) == [day0, day0 + 86_400_000])
        #expect(closed.dropFirst(2).allSatisfy { $0.samples == 0 } && tracker.late == 1)
    }
}
