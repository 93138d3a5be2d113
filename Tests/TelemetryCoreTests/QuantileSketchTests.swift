import Testing

@testable import TelemetryCore

@Suite("Quantile sketch")
struct QuantileSketchTests {
    static func exact(_ sorted: [Double], _ q: Double) -> Double {
        sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
    }

    static func within(_ estimate: Double?, _ exact: Double) -> Bool {
        guard let estimate else { return false }
        return abs(estimate - exact) <= QuantileSketch.relativeAccuracy * abs(exact) + 1e-12
    }

    @Test("p50, p95 and p99 are within 2 % of the exact value, merged across buckets", arguments: 1...30)
    func bounded(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed))
        let center = Double.random(in: -500...500, using: &random)
        let spread = Double.random(in: 0.01...1, using: &random) * max(1, abs(center))
        var parts = [QuantileSketch](repeating: QuantileSketch(), count: Int.random(in: 1...6, using: &random))
        var values: [Double] = []
        for _ in 0..<Int.random(in: 1...3000, using: &random) {
            let value = center + Double.random(in: -spread...spread, using: &random)
            values.append(value)
            parts[Int.random(in: 0..<parts.count, using: &random)].add(value)
        }
        var merged = QuantileSketch()
        for part in parts { merged.merge(part) }
        #expect(merged.count == values.count)
        let sorted = values.sorted()
        // Without collapsed bins every quantile keeps the bound; with them, the upper ones do.
        let quantiles = merged.binCount < QuantileSketch.maxBins ? [0, 0.25, 0.5, 0.95, 0.99, 1] : [0.95, 0.99, 1]
        for q in quantiles {
            #expect(Self.within(merged.quantile(q), Self.exact(sorted, q)), "seed \(seed) q \(q)")
        }
    }

    @Test("a wide range collapses its lowest bins but keeps the median and the tail")
    func wideRange() {
        var random = SeededRandom(seed: 99)
        var sketch = QuantileSketch()
        var values: [Double] = []
        for _ in 0..<20_000 {
            let value = Double.random(in: 1...1000, using: &random)
            values.append(value)
            sketch.add(value)
        }
        #expect(sketch.binCount == QuantileSketch.maxBins)
        let sorted = values.sorted()
        for q in [0.5, 0.95, 0.99] {
            #expect(Self.within(sketch.quantile(q), Self.exact(sorted, q)), "q \(q)")
        }
    }

    @Test("window statistics expose quantiles clamped to the observed range")
    func windowQuantiles() {
        var stats = WindowStats()
        for value in [10.0, 11, 12, 13, 14, 15, 16, 17, 18, 100] { stats.add(value, at: EventTime(milliseconds: 0)) }
        #expect(stats.quantile(1) == 100)
        #expect(stats.quantile(0) == 10)
        #expect(Self.within(stats.quantile(0.5), 14))
        #expect(WindowStats().quantile(0.5) == nil)
    }

    @Test("zero and negative values sort and estimate correctly")
    func signs() {
        var sketch = QuantileSketch()
        let values: [Double] = [-40, -10, -1, 0, 0, 1, 10, 40]
        for v in values { sketch.add(v) }
        #expect(sketch.quantile(0).map { abs($0 + 40) <= 0.8 } == true)
        #expect(sketch.quantile(3 / 7) == 0)
        #expect(sketch.quantile(1).map { abs($0 - 40) <= 0.8 } == true)
    }
}
