import Testing

@testable import TelemetryCore

/// Window statistics against a naive recomputation over the same readings.
@Suite("Rolling windows")
struct WindowPropertyTests {
    static let minute: Int64 = 60_000
    static let specs = [
        try! WindowSpec(name: "1m", length: minute, bucket: 15_000),
        try! WindowSpec(name: "15m", length: 15 * minute, bucket: 5 * minute),
        try! WindowSpec(name: "1h", length: 60 * minute, bucket: 15 * minute, alignOffset: 7 * 60 * minute),
    ]

    /// The readings a window at `time` covers, in time order (stable for equal times).
    static func covered(_ readings: [Reading], spec: WindowSpec, at time: EventTime) -> [Reading] {
        let end = spec.bucketStart(time) + spec.bucketMilliseconds
        let start = end - spec.lengthMilliseconds
        return readings.enumerated()
            .filter { $0.element.time.milliseconds >= start && $0.element.time.milliseconds < end }
            .sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
            .map(\.element)
    }

    static func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        abs(a - b) <= tolerance * max(1, abs(a), abs(b))
    }

    static func check(_ stats: WindowStats, against readings: [Reading], counter: Bool, label: String) {
        #expect(stats.count == readings.count, "\(label) count")
        guard let first = readings.first, let last = readings.last else {
            #expect(stats.isEmpty, "\(label) empty")
            return
        }
        let values = readings.map(\.value)
        let sum = values.reduce(0, +)
        let mean = sum / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        #expect(close(stats.sum, sum), "\(label) sum \(stats.sum) vs \(sum)")
        #expect(close(stats.mean, mean), "\(label) mean")
        #expect(close(stats.standardDeviation ?? -1, variance.squareRoot(), 1e-6), "\(label) std")
        #expect(stats.min == values.min() && stats.max == values.max(), "\(label) min/max")
        #expect(stats.firstTime == first.time && stats.firstValue == first.value, "\(label) first")
        #expect(stats.lastTime == last.time && stats.lastValue == last.value, "\(label) last")
        if last.time > first.time {
            let rate = (last.value - first.value) / (Double(last.time.milliseconds - first.time.milliseconds) / 1000)
            #expect(close(stats.rateOfChange ?? .nan, rate), "\(label) rate")
        }
        let sorted = values.sorted()
        for q in stats.sketch.binCount < QuantileSketch.maxBins ? [0.5, 0.95, 0.99] : [0.95, 0.99] {
            let exact = sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
            let estimate = stats.quantile(q) ?? .nan
            #expect(abs(estimate - exact) <= QuantileSketch.relativeAccuracy * abs(exact) + 1e-9, "\(label) p\(q)")
        }
        if counter {
            var increase = 0.0
            var resets = 0
            for (a, b) in zip(values, values.dropFirst()) {
                if b >= a {
                    increase += b - a
                } else {
                    increase += b
                    resets += 1
                }
            }
            #expect(close(stats.increase, increase), "\(label) increase \(stats.increase) vs \(increase)")
            #expect(stats.resets == resets, "\(label) resets")
        }
    }

    @Test(
        "gauge windows equal a naive recomputation: out of order, late, duplicated, flagged and invalid readings",
        arguments: 1...40)
    func gauges(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed))
        var settings = SeriesState.Settings()
        settings.range = 0...500
        settings.allowedLatenessMilliseconds = 3 * Self.minute
        var state = SeriesState(windows: Self.specs, settings: settings)

        let start = Int64(1_795_400_000_000) + Int64.random(in: 0..<3_600_000, using: &random)
        var sent: [Reading] = []
        var accepted: [Reading] = []
        var watermark: Int64?
        var expected = SeriesState.Counts()
        var seen = Set<Int64>()
        let total = Int.random(in: 50..<600, using: &random)
        for i in 0..<total {
            var reading: Reading
            if i > 3 && Int.random(in: 0..<20, using: &random) == 0 {
                reading = sent[sent.count - Int.random(in: 1...3, using: &random)]  // a re-send
            } else {
                // Mostly forward in time, sometimes jumping back (out of order, sometimes too late).
                let step = Int64.random(in: -5 * Self.minute...(2 * Self.minute / 3), using: &random)
                let base = sent.last?.time.milliseconds ?? start
                let value =
                    Int.random(in: 0..<30, using: &random) == 0
                    ? Double.random(in: 501...900, using: &random)
                    : (Double.random(in: 0...400, using: &random) * 100).rounded() / 100
                let status: ReadingStatus = Int.random(in: 0..<12, using: &random) == 0 ? .calibrating : .ok
                reading = Reading(
                    value: value, time: EventTime(milliseconds: max(start, base + (step < 0 ? step / 4 : step))),
                    status: status, seq: Int64(i))
            }
            sent.append(reading)
            let outcome = state.add(reading)

            let naive: SeriesState.Outcome
            if let w = watermark, w - reading.time.milliseconds > settings.allowedLatenessMilliseconds {
                naive = .late
                expected.late += 1
            } else if seen.contains(reading.seq!) {
                naive = .duplicate
                expected.duplicate += 1
            } else {
                seen.insert(reading.seq!)
                watermark = max(watermark ?? .min, reading.time.milliseconds)
                if !(0...500).contains(reading.value) {
                    naive = .invalid
                    expected.invalid += 1
                } else if reading.status == .calibrating {
                    naive = .calibrating
                    expected.calibrating += 1
                } else {
                    naive = .accepted
                    expected.accepted += 1
                    accepted.append(reading)
                }
            }
            #expect(outcome == naive, "reading \(i)")
        }
        #expect(state.counts == expected)
        let now = EventTime(milliseconds: watermark!)
        for ring in state.windows {
            Self.check(
                ring.stats(at: now), against: Self.covered(accepted, spec: ring.spec, at: now), counter: false,
                label: "seed \(seed) window \(ring.spec.name)")
        }
    }

    @Test("counter increase equals a naive recomputation across buckets and resets", arguments: 1...40)
    func counters(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed) &* 7919)
        var settings = SeriesState.Settings()
        settings.shape = .counter
        var state = SeriesState(windows: Self.specs, settings: settings)
        var value = Double.random(in: 0...1e6, using: &random)
        var time = Int64(1_795_400_000_000)
        var accepted: [Reading] = []
        var newest = Int64.min  // nothing seen yet: the first reading is in order whatever its time
        for i in 0..<Int.random(in: 20..<400, using: &random) {
            if Int.random(in: 0..<40, using: &random) == 0 {
                value = Double.random(in: 0...100, using: &random)  // meter replaced: a reset
            } else {
                value += (Double.random(in: 0...5, using: &random) * 1000).rounded() / 1000
            }
            let backwards = Int.random(in: 0..<25, using: &random) == 0
            let readingTime = backwards ? time - Int64.random(in: 1...20_000, using: &random) : time
            let reading = Reading(value: value, time: EventTime(milliseconds: readingTime), seq: Int64(i))
            let outcome = state.add(reading)
            if readingTime < newest {
                #expect(outcome == .outOfOrder)
            } else {
                #expect(outcome == .accepted)
                accepted.append(reading)
                newest = readingTime
            }
            time += Int64.random(in: 1_000...40_000, using: &random)
        }
        let now = EventTime(milliseconds: newest)
        for ring in state.windows {
            Self.check(
                ring.stats(at: now), against: Self.covered(accepted, spec: ring.spec, at: now), counter: true,
                label: "seed \(seed) window \(ring.spec.name)")
        }
    }

    @Test("a window drops buckets as event time moves past them")
    func sliding() throws {
        let spec = try WindowSpec(name: "1m", length: 60_000, bucket: 15_000)
        var ring = BucketRing(spec: spec)
        let t0 = EventTime(milliseconds: 1_795_400_000_000)
        ring.add(10, at: t0)
        ring.add(20, at: EventTime(milliseconds: t0.milliseconds + 30_000))
        #expect(ring.stats(at: EventTime(milliseconds: t0.milliseconds + 30_000)).count == 2)
        #expect(ring.stats(at: EventTime(milliseconds: t0.milliseconds + 60_000)).count == 1)
        #expect(ring.stats(at: EventTime(milliseconds: t0.milliseconds + 120_000)).isEmpty)
        // Reusing the slot of an old bucket starts it afresh.
        ring.add(5, at: EventTime(milliseconds: t0.milliseconds + 60_000))
        let stats = ring.stats(at: EventTime(milliseconds: t0.milliseconds + 60_000))
        #expect(stats.count == 2 && stats.sum == 25)
    }

    @Test("hourly and daily validity follow the 3-of-4 quarter hours and 18-of-24 hours rule")
    func validity() throws {
        let day = WindowSpec.defaults(utcOffsetMinutes: 0)[3]
        var ring = BucketRing(spec: day)
        let midnight = EventTime(milliseconds: 1_795_392_000_000)  // 2026-11-23T00:00Z
        #expect(day.bucketStart(midnight) == midnight.milliseconds)
        let rule = ValidityRule()
        for hour in 0..<24 {
            // Hours 0-17: three quarter hours; 18-23: two quarter hours (invalid).
            let quarters = hour < 18 ? [0, 1, 3] : [0, 2]
            for q in quarters {
                ring.add(
                    1,
                    at: EventTime(
                        milliseconds: midnight.milliseconds + Int64(hour) * 3_600_000 + Int64(q) * 900_000 + 1))
            }
        }
        let end = EventTime(milliseconds: midnight.milliseconds + 24 * 3_600_000 - 1)
        #expect(rule.validHours(ring, at: end) == 18)
        #expect(rule.dayIsValid(ring, at: end))
        #expect(!ValidityRule(minQuarterHours: 3, minHours: 19).dayIsValid(ring, at: end))
        #expect(ValidityRule(minQuarterHours: 2, minHours: 24).dayIsValid(ring, at: end))
        #expect(rule.assess(ring, at: end) == WindowValidity(unit: .hours, covered: 18, valid: true))
        var hour = BucketRing(spec: WindowSpec.defaults(utcOffsetMinutes: 0)[2])
        for q in [0, 2] { hour.add(1, at: EventTime(milliseconds: midnight.milliseconds + Int64(q) * 900_000)) }
        let last = EventTime(milliseconds: midnight.milliseconds + 3_599_999)
        #expect(rule.assess(hour, at: last) == WindowValidity(unit: .quarterHours, covered: 2, valid: false))
        hour.add(1, at: last)
        #expect(rule.assess(hour, at: last) == WindowValidity(unit: .quarterHours, covered: 3, valid: true))
        #expect(rule.assess(BucketRing(spec: WindowSpec.defaults()[0]), at: last) == nil)
    }

    @Test("window specs refuse impossible shapes")
    func badSpecs() {
        #expect(throws: WindowSpecError.self) { try WindowSpec(name: "x", length: 60_000, bucket: 7_000) }
        #expect(throws: WindowSpecError.self) { try WindowSpec(name: "x", length: 1_000, bucket: 2_000) }
        #expect(throws: WindowSpecError.self) { try WindowSpec(name: "x", length: 86_400_000, bucket: 1_000) }
    }
}
