import Testing

@testable import TelemetryCore

@Suite("Window figures for rules, and lean windows")
struct WindowCacheTests {
    static let specs =
        WindowSpec.defaults(utcOffsetMinutes: 420) + [
            try! WindowSpec(name: "8h", length: 8 * 3_600_000, bucket: 3_600_000, alignOffset: 420 * 60_000)
        ]

    @Test(
        "a rule's statistic is the window's figure of that name; nil without readings, and on a lean window for all but mean, count, sum and LAeq (property)",
        arguments: 1...20)
    func statisticOfWindow(seed: UInt64) {
        var random = SeededRandom(seed: seed &* 7_919)
        var settings = SeriesState.Settings()
        settings.detailWindows = seed % 2 == 0 ? .max : 0
        settings.shape = seed % 3 == 0 ? .counter : .gauge
        settings.decibels = seed % 5 == 0
        var state = SeriesState(windows: WindowSpec.defaults(utcOffsetMinutes: 0), settings: settings)
        let t0 = Int64(1_795_392_000_000)
        for k in 0..<Int.random(in: 0...40, using: &random) {
            let value = Double(Int.random(in: -500...9_000, using: &random)) / 8
            state.add(Reading(value: value, time: EventTime(milliseconds: t0 + Int64(k) * 45_000)))
        }
        // The figure each statistic names (what a rule on it compares with its limit).
        let named: [WindowStatistic: (WindowStats) -> Double?] = [
            .mean: { $0.mean }, .min: { $0.min }, .max: { $0.max }, .sum: { $0.sum }, .count: { Double($0.count) },
            .std: { $0.standardDeviation }, .p50: { $0.quantile(0.5) }, .p95: { $0.quantile(0.95) },
            .p99: { $0.quantile(0.99) }, .last: { $0.lastValue }, .increase: { $0.increase },
            .rate: { $0.rateOfChange }, .leq: { $0.leq },
        ]
        for window in state.windows {
            var stats = window.stats(at: EventTime(milliseconds: t0 + 40 * 45_000))
            for statistic in WindowStatistic.allCases {
                let expected: Double? =
                    if stats.isEmpty {
                        statistic == .count ? 0 : nil
                    } else if !stats.detailed && ![.mean, .count, .sum, .leq].contains(statistic) { nil } else {
                        named[statistic]!(stats)
                    }
                // The engine's read in place and a copy's read, bit for bit.
                let inPlace = withUnsafePointer(to: &stats) { statistic.value(at: $0) }
                #expect(inPlace?.bitPattern == expected?.bitPattern, "\(statistic) of \(window.spec.name)")
                #expect(
                    statistic.value(of: stats)?.bitPattern == expected?.bitPattern,
                    "\(statistic) of \(window.spec.name)")
            }
        }
    }

    @Test(
        "a cached window read is bit for bit the full fold, validity included, with late readings (property)",
        arguments: 1...30)
    func cachedEqualsFold(seed: UInt64) {
        var random = SeededRandom(seed: seed &* 104_729)
        var settings = SeriesState.Settings()
        settings.allowedLatenessMilliseconds = 20 * 60_000
        // Odd seeds: lean windows; even seeds: full detail, with sketches for every other one
        // (without, the newest bucket merges from its fields: `WindowStats.merge(bucket:energy:)`).
        settings.detailWindows = seed % 2 == 0 ? .max : 0
        settings.quantileWindows = seed % 4 == 0 ? .max : 0
        // Every third seed: a decibel series, whose windows keep energy sums (LAeq); every
        // seed: a range, so some readings are invalid and counted apart.
        settings.decibels = seed % 3 == 0
        settings.range = -40...480
        var state = SeriesState(windows: Self.specs, settings: settings)
        var caches = Array(repeating: WindowCache(), count: Self.specs.count)
        let validity = ValidityRule(minQuarterHours: Int.random(in: 1...4, using: &random), minHours: 18)
        var time = Int64(1_795_400_000_000)
        for i in 0..<Int.random(in: 50..<600, using: &random) {
            time += Int64.random(in: 1_000...400_000, using: &random)
            // Some readings arrive late, into buckets before the newest.
            let late = Int.random(in: 0..<6, using: &random) == 0 ? Int64.random(in: 1...1_100_000, using: &random) : 0
            let reading = Reading(
                value: (Double.random(in: -50...500, using: &random) * 100).rounded() / 100,
                time: EventTime(milliseconds: time - late),
                status: [.error, .calibrating, .ok, .ok, .ok, .ok, .ok, .ok, .ok, .ok, .ok, .ok][
                    Int.random(in: 0..<12, using: &random)],
                seq: Int64(i))
            state.add(reading)
            guard let now = state.watermark else { continue }
            for (w, ring) in state.windows.enumerated() {
                let cached = caches[w].read(ring, at: now, quantiles: ring.keepsQuantiles, validity: validity)
                let folded = ring.stats(at: now, quantiles: ring.keepsQuantiles)
                // As text: empty figures hold NaN, which never equals itself.
                #expect("\(cached.stats)" == "\(folded)", "seed \(seed) reading \(i) window \(ring.spec.name)")
                #expect(cached.stats.leq?.bitPattern == folded.leq?.bitPattern)
                #expect(cached.validity == validity.assess(ring, at: now))
            }
        }
    }

    @Test("a lean window keeps count, sum and mean (the sum over the count); rules reading more get nil")
    func lean() {
        var settings = SeriesState.Settings()
        settings.detailWindows = 0
        var state = SeriesState(windows: WindowSpec.defaults(utcOffsetMinutes: 0), settings: settings)
        let t0 = Int64(1_795_392_000_000)  // 2026-11-23T00:00Z
        for (k, value) in [40.0, 45.5, 50.25].enumerated() {
            state.add(Reading(value: value, time: EventTime(milliseconds: t0 + Int64(k) * 60_000)))
        }
        let hour = state.stats(window: "1h")!
        #expect(hour.count == 3 && hour.sum == 135.75)
        #expect(hour.mean == 135.75 / 3)  // 45.25
        #expect(!hour.detailed)
        #expect(WindowStatistic.mean.value(of: hour) == 45.25)
        #expect(WindowStatistic.max.value(of: hour) == nil && WindowStatistic.std.value(of: hour) == nil)
        #expect(state.windows[2].memoryBytes < BucketRing(spec: state.windows[2].spec, quantiles: true).memoryBytes)
        // A counter keeps full detail whatever the configuration: its increase is the point.
        settings.shape = .counter
        var meter = SeriesState(windows: WindowSpec.defaults(utcOffsetMinutes: 0), settings: settings)
        meter.add(Reading(value: 100, time: EventTime(milliseconds: t0)))
        meter.add(Reading(value: 112.5, time: EventTime(milliseconds: t0 + 60_000)))
        #expect(meter.stats(window: "1h")?.increase == 12.5)
    }

    @Test("rules that read more than a mean make their window detailed; p95 makes it keep sketches")
    func needs() {
        func rule(_ condition: RuleCondition) -> Rule { Rule(id: "r", description: "r", condition: condition) }
        #expect(!rule(.threshold(source: .window("24h", .mean), above: true, limit: 45, clear: nil)).needsDetail)
        #expect(rule(.threshold(source: .window("1h", .max), above: true, limit: 45, clear: nil)).needsDetail)
        #expect(rule(.flatline(window: "1h", spread: 0, minCount: 10)).needsDetail)
        #expect(rule(.counterReset(window: "1h")).needsDetail)
        #expect(!rule(.completeness(window: "1h", expected: 60, minShare: 0.75)).needsDetail)
        #expect(rule(.threshold(source: .window("1h", .p95), above: true, limit: 45, clear: nil)).needsQuantiles)
    }
}

@Suite("Local calendar")
struct LocalCalendarTests {
    @Test("floors, minutes of the day and weekdays in UTC+7, also before 1970, without a trap at the ends")
    func calendar() {
        let hcm = LocalCalendar(utcOffsetMinutes: 420)
        // 2026-11-23T17:30:00Z is 2026-11-24 00:30 in Ho Chi Minh City, a Tuesday.
        let t = EventTime(milliseconds: 1_795_455_000_000)
        #expect(hcm.minuteOfDay(t) == 30)
        #expect(hcm.weekday(t) == 1)
        // Local midnight of 2026-11-24 is 2026-11-23T17:00:00Z.
        #expect(hcm.floor(t, step: LocalCalendar.dayMilliseconds) == 1_795_453_200_000)
        #expect(hcm.nextBoundary(after: t, step: 900_000).milliseconds == 1_795_455_900_000)  // 00:45 local
        // 1969-12-31T23:59:59.999Z is 1970-01-01 06:59:59.999 local, a Thursday; day 0.
        let before = EventTime(milliseconds: -1)
        #expect(hcm.minuteOfDay(before) == 6 * 60 + 59 && hcm.day(before) == 0 && hcm.weekday(before) == 3)
        #expect(LocalCalendar(utcOffsetMinutes: 0).day(before) == -1)
        #expect(LocalCalendar.floorDivide(-7, 2) == -4 && LocalCalendar.floorModulo(-7, 2) == 1)
        for time: Int64 in [.min, .min + 1, .max, -86_400_000 * 3 - 1] {
            let e = EventTime(milliseconds: time)
            #expect((0..<1440).contains(hcm.minuteOfDay(e)))
            #expect((0..<7).contains(hcm.weekday(e)))
            _ = RFC3339.format(e, offsetMinutes: 420)
        }
        #expect(LocalCalendar.within(30, from: 21 * 60, to: 6 * 60))  // 00:30 lies in 21:00-06:00
        #expect(!LocalCalendar.within(12 * 60, from: 21 * 60, to: 6 * 60))
    }
}
