import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// One series over one history interval (5 minutes by default): what the gateway's store keeps
/// after the windows have rolled past it.
public struct Rollup: Sendable, Equatable {
    public var series: SeriesID
    public var start: Int64
    public var count: Int
    public var sum: Double
    public var min: Double
    public var max: Double
    public var last: Double
    /// Σ10^(L/10) of a decibel series' readings (its LAeq is 10·log10(energy / count)).
    public var energy: Double?
    /// A counter's increase over the interval (resets handled).
    public var increase: Double?

    public var mean: Double { sum / Double(count) }
    public var leq: Double? { energy.map { 10 * log10($0 / Double(count)) } }

    package init(
        series: SeriesID,
        start: Int64,
        count: Int,
        sum: Double,
        min: Double,
        max: Double,
        last: Double,
        energy: Double? = nil,
        increase: Double? = nil
    ) {
        self.series = series
        self.start = start
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.last = last
        self.energy = energy
        self.increase = increase
    }
}

/// Stage 6b, history: each accepted reading goes into its series' open history interval;
/// an interval closes when a reading passes its end or a summary boundary does, and waits
/// for the store's writer. Kept only when a history store is configured.
package struct HistoryStage {
    private struct Open {
        package var start: Int64 = .min
        package var count = 0
        package var sum = 0.0
        package var min = Double.infinity
        package var max = -Double.infinity
        package var last = 0.0
        package var energy = 0.0
        package var increase = 0.0
        /// The last accepted counter value (NaN before the first).
        package var counter = Double.nan
        /// What the series is, fixed when it opens: decibels average by energy, counters add increments.
        package var decibels = false
        package var isCounter = false
    }

    package let resolution: Int64
    package let calendar: LocalCalendar
    /// Per series slot: its open interval.
    private var open: [Open] = []
    private(set) var closed: [Rollup] = []

    package init(resolutionMilliseconds: Int64, utcOffsetMinutes: Int) {
        resolution = resolutionMilliseconds
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
    }

    package var enabled: Bool { resolution > 0 }

    package mutating func opened(slot: Int32, decibels: Bool, counter: Bool) {
        guard enabled else { return }
        while open.count <= Int(slot) { open.append(Open()) }
        open[Int(slot)].decibels = decibels
        open[Int(slot)].isCounter = counter
    }

    package mutating func observe(slot s: Int, _ id: @autoclosure () -> SeriesID, _ reading: Reading) {
        guard enabled else { return }
        let start = calendar.floor(reading.time, step: resolution)
        if open[s].count > 0 && start > open[s].start { close(s, id()) }
        // A reading of an interval already written is not added to it: the rollup stays as
        // written (the reading still counts in the series and its windows).
        if start < open[s].start { return }
        if open[s].count == 0 { open[s].start = start }
        let value = reading.value
        open[s].count += 1
        open[s].sum += value
        open[s].min = Swift.min(open[s].min, value)
        open[s].max = Swift.max(open[s].max, value)
        open[s].last = value
        if open[s].decibels { open[s].energy += pow(10, value / 10) }
        if open[s].isCounter {
            let previous = open[s].counter
            if !previous.isNaN { open[s].increase += value >= previous ? value - previous : value }
            open[s].counter = value
        }
    }

    private mutating func close(_ s: Int, _ id: SeriesID) {
        let o = open[s]
        closed.append(
            Rollup(
                series: id, start: o.start, count: o.count, sum: o.sum, min: o.min, max: o.max, last: o.last,
                energy: o.decibels ? o.energy : nil, increase: o.isCounter ? o.increase : nil))
        // The next interval starts after this one: older readings are late from now on.
        open[s] = Open(start: o.start + resolution, counter: o.counter, decibels: o.decibels, isCounter: o.isCounter)
    }

    /// Closes every interval that ended at or before `time` of a series `quiet` says has
    /// stopped receiving readings.
    package mutating func advance(to time: EventTime, ids: [SeriesID], quiet: (Int) -> Bool = { _ in true }) {
        guard enabled else { return }
        for s in open.indices where open[s].count > 0 && open[s].start + resolution <= time.milliseconds && quiet(s) {
            close(s, ids[s])
        }
    }

    package mutating func take() -> [Rollup] {
        defer { closed.removeAll(keepingCapacity: true) }
        return closed
    }

    /// Series evicted: their open intervals close (and are written) before they go.
    package mutating func remove(kept: [Bool], ids: [SeriesID]) {
        guard enabled else { return }
        for s in kept.indices where !kept[s] && open[s].count > 0 { close(s, ids[s]) }
        open = open.compacted(kept)
    }
}
