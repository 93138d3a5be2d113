import Testing

@testable import TelemetryCore

/// A window of the same bucket size and alignment as a longer one (8 h of hourly buckets
/// beside 24 h) reads the longer window's newest buckets instead of keeping its own: these
/// check that every figure, and the snapshot, is what a ring of its own would give.
@Suite("Windows that share buckets")
struct SharedWindowTests {
    static let offset: Int64 = 420 * 60_000
    static let specs =
        WindowSpec.defaults(utcOffsetMinutes: 420) + [
            try! WindowSpec(name: "8h", length: 8 * 3_600_000, bucket: 3_600_000, alignOffset: offset)
        ]
    static let eightHours = 4
    static let day = 3

    @Test("8 h shares 24 h's buckets only when both keep the same detail, quantiles and energy")
    func plan() {
        var settings = SeriesState.Settings()
        settings.detailWindows = 0
        settings.quantileWindows = 0
        #expect(SeriesState.owners(Self.specs, settings) == [-1, -1, -1, -1, Self.day])
        let state = SeriesState(windows: Self.specs, settings: settings)
        // The 8 h window costs its spec, not 8 buckets.
        #expect(
            state.memoryBytes == SeriesState(windows: Array(Self.specs.prefix(4)), settings: settings).memoryBytes + 96)
        // The 8 h window keeps detail the 24 h one does not: each keeps its own.
        settings.detailWindows = 1 << UInt64(Self.eightHours)
        #expect(SeriesState.owners(Self.specs, settings) == [-1, -1, -1, -1, -1])
        // Another alignment: no sharing either.
        let shifted =
            Array(Self.specs.prefix(4)) + [try! WindowSpec(name: "8h", length: 8 * 3_600_000, bucket: 3_600_000)]
        settings.detailWindows = 0
        #expect(SeriesState.owners(shifted, settings) == [-1, -1, -1, -1, -1])
    }

    @Test(
        "a shared 8 h window reads as a ring of its own, late readings and restarts included (property)",
        arguments: 1...24)
    func sameAsOwnRing(seed: UInt64) throws {
        var random = SeededRandom(seed: seed &* 7_919)
        var settings = SeriesState.Settings()
        // Late by up to 30 h: beyond the 8 h span, within and beyond the 24 h one.
        settings.allowedLatenessMilliseconds = 30 * 3_600_000
        settings.range = 0...85
        let full = seed % 3 == 0
        settings.detailWindows = full ? .max : 0
        settings.quantileWindows = full ? .max : 0
        settings.decibels = seed % 3 == 1
        var state = SeriesState(windows: Self.specs, settings: settings)
        #expect(SeriesState.owners(Self.specs, settings)[Self.eightHours] == Self.day)
        var own = BucketRing(
            spec: Self.specs[Self.eightHours], quantiles: full, detail: full, energy: settings.decibels)
        var time = Int64(1_795_400_000_000)
        for i in 0..<Int.random(in: 40..<400, using: &random) {
            // Gaps of up to 20 h: buckets the 8 h ring overwrote while the 24 h ring keeps them.
            time += Int64.random(in: 60_000...(i % 17 == 0 ? 72_000_000 : 2_400_000), using: &random)
            let late =
                Int.random(in: 0..<5, using: &random) == 0 ? Int64.random(in: 1...100_000_000, using: &random) : 0
            let reading = Reading(
                value: (Double.random(in: 30...90, using: &random) * 10).rounded() / 10,
                time: EventTime(milliseconds: time - late), seq: Int64(i))
            // Values above 85 are out of range: counted in the windows, not in the figures.
            switch state.add(reading) {
            case .accepted: own.add(reading.value, at: reading.time)
            case .invalid: own.count(.ok, invalid: true, at: reading.time)
            default: break
            }
            guard let now = state.watermark else { continue }
            let shared = state.window(Self.eightHours)
            for at in [now, EventTime(milliseconds: now.milliseconds + 5_400_000)] {
                // As text: empty figures hold NaN, which never equals itself.
                #expect(
                    "\(shared.stats(at: at))" == "\(own.stats(at: at))", "seed \(seed) reading \(i)")
                #expect(shared.buckets(endingAt: at).map(\.start) == own.buckets(endingAt: at).map(\.start))
            }
        }
        // The snapshot round trip keeps every window's figures.
        var w = ByteWriter()
        state.encode(&w)
        var r = ByteReader(w.bytes)
        let restored = try SeriesState(decoding: &r, windows: Self.specs, settings: settings)
        let now = try #require(state.watermark)
        for k in Self.specs.indices {
            #expect("\(restored.window(k).stats(at: now))" == "\(state.window(k).stats(at: now))")
        }
        #expect(restored.window(Self.eightHours).owner == Int16(Self.day))
        #expect(restored.memoryBytes == state.memoryBytes)
    }
}
