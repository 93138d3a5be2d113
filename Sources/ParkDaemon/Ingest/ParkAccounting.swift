import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// Stage 6, park accounting: each reading's share of its park's figures for every summary
/// schedule (1 m, 1 h, 1 d by default). Figures are kept per (park, pillar, kind), not per
/// series, so a summary costs what the parks cost; each series knows its figures' index and
/// its role (an energy meter, a demand meter, a green-area survey) from when it opened.
struct ParkAccounting {
    struct Key: Hashable {
        var park: String
        var pillar: Pillar
        var kind: String
    }

    /// One (park, pillar, kind) over one interval.
    struct Figures {
        var readings = 0
        var outcomes = SeriesState.Counts()
        /// Accepted values.
        var sum = 0.0
        var count = 0
        /// For counters: the increase (resets handled), and its part in EVN peak hours.
        var increase = 0.0
        var peakTariffIncrease = 0.0
        /// Series with a reading in the interval.
        var reporting = 0
        /// Decibel kinds: Σ10^(L/10) of the accepted values, for the energy average (LAeq).
        var energy = 0.0
    }

    /// What a series' readings mean for its park, resolved once from its kind.
    enum Role: UInt8 {
        case plain
        /// `active_power`: its 15-minute mean is its share of the park's demand.
        case demand
        /// `green_area`: the park's green area is the sum of its surveys' last values.
        case greenArea
        /// A decibel kind (noise): its interval figure is the energy average, LAeq.
        case decibels
    }

    private(set) var keys: [Key] = []
    private var keyIndex: [Key: Int32] = [:]
    /// [schedule][key]
    private var figures: [[Figures]]
    /// Series per key (the known sensors of a park and pillar).
    private var seriesPerKey: [Int] = []

    /// What accounting keeps per series, side by side: one cache line per reading, not six.
    private struct Series {
        var key: Int32
        var shape: MeasureShape
        var role: Role
        /// Bit k: the series reported in schedule k's open interval.
        var reported: UInt8 = 0
        /// The last accepted counter value (NaN before the first).
        var lastCounter = Double.nan
        var meterDemand = 0.0
    }
    /// Per series slot.
    private var series: [Series] = []

    /// Per park: the sum of its meters' 15-minute means, and its highest value per schedule.
    private var demand: [String: (total: Double, peaks: [Double?])] = [:]
    /// Per schedule: green-area surveys' last values by slot.
    private var greenLast: [[Int32: Double]]
    /// Regulatory exceedance spans by id, for minutes in exceedance per rule.
    private(set) var spans: [String: Exceedance] = [:]

    let schedules: Int
    let calendar: LocalCalendar
    /// The window whose mean is a meter's demand (`15m`), if configured.
    let demandWindow: Int?

    init(schedules: Int, utcOffsetMinutes: Int, windows: [WindowSpec]) {
        self.schedules = max(1, schedules)
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        demandWindow = windows.firstIndex { $0.lengthMilliseconds == 15 * 60_000 }
        figures = Array(repeating: [], count: self.schedules)
        greenLast = Array(repeating: [:], count: self.schedules)
    }

    /// A series opened at `slot` (slots are opened in order).
    mutating func opened(_ id: SeriesID, shape: MeasureShape, decibels: Bool = false) {
        let key = Key(park: id.park, pillar: id.pillar, kind: id.kind)
        let index: Int32
        if let known = keyIndex[key] {
            index = known
        } else {
            index = Int32(keys.count)
            keys.append(key)
            keyIndex[key] = index
            seriesPerKey.append(0)
            for k in figures.indices { figures[k].append(Figures()) }
        }
        seriesPerKey[Int(index)] += 1
        series.append(
            Series(
                key: index, shape: shape,
                role: id.kind == "active_power"
                    ? .demand : id.kind == "green_area" ? .greenArea : decibels ? .decibels : .plain))
    }

    /// Counts a reading refused before its series (its time, a retained copy).
    mutating func refused(slot s: Int, _ outcome: SeriesState.Outcome) {
        let key = Int(series[s].key)
        for k in 0..<schedules {
            figures[k][key].readings += 1
            figures[k][key].outcomes[outcome] += 1
            markReported(s, key, k)
        }
    }

    /// Accounts one reading that reached series `s`, with what became of it.
    mutating func record(slot s: Int, _ outcome: SeriesState.Outcome, _ reading: Reading, state: SeriesState) {
        let key = Int(series[s].key)
        var delta = 0.0
        var peak = false
        let accepted = outcome == .accepted
        if accepted && series[s].shape == .counter {
            let previous = series[s].lastCounter
            if !previous.isNaN { delta = reading.value >= previous ? reading.value - previous : reading.value }
            series[s].lastCounter = reading.value
            peak = EVNTariff.period(at: reading.time, utcOffsetMinutes: calendar.utcOffsetMinutes) == .peak
        }
        for k in 0..<schedules {
            figures[k][key].readings += 1
            figures[k][key].outcomes[outcome] += 1
            markReported(s, key, k)
            guard accepted else { continue }
            figures[k][key].sum += reading.value
            figures[k][key].count += 1
            figures[k][key].increase += delta
            if peak { figures[k][key].peakTariffIncrease += delta }
            if series[s].role == .greenArea { greenLast[k][Int32(s)] = reading.value }
            if series[s].role == .decibels { figures[k][key].energy += pow(10, reading.value / 10) }
        }
        if accepted && series[s].role == .demand, let w = demandWindow {
            let mean = state.windows[w].stats(at: reading.time, quantiles: false).mean
            let park = seriesPark(key)
            var figures = demand[park] ?? (0, Array(repeating: nil, count: schedules))
            figures.total += mean - series[s].meterDemand
            for k in figures.peaks.indices { figures.peaks[k] = max(figures.peaks[k] ?? figures.total, figures.total) }
            series[s].meterDemand = mean
            demand[park] = figures
        }
    }

    private func seriesPark(_ key: Int) -> String { keys[key].park }

    private mutating func markReported(_ s: Int, _ key: Int, _ k: Int) {
        let bit = UInt8(1) << UInt8(k)
        if series[s].reported & bit == 0 {
            series[s].reported |= bit
            figures[k][key].reporting += 1
        }
    }

    /// Whether series `s` has figures in any open interval (it must not be evicted).
    func hasOpenFigures(_ s: Int) -> Bool { series[s].reported != 0 }

    /// Whether series `s` reported in schedule k's open interval.
    func reportedIn(_ k: Int, _ s: Int) -> Bool { series[s].reported & (UInt8(1) << UInt8(k)) != 0 }

    /// Notes spans begun or ended (regulatory rules' values beyond their limits).
    mutating func note(_ changes: [Exceedance]) {
        for span in changes { spans[span.id] = span }
    }

    /// Puts saved spans back, so that minutes in exceedance go on counting after a restart.
    mutating func restore(_ saved: [Exceedance]) {
        for span in saved where spans[span.id] == nil { spans[span.id] = span }
    }

    /// Ends open spans that are not in `open` (their rule went in a reload) at `time`.
    mutating func endSpans(except open: [Exceedance], at time: EventTime) {
        let kept = Set(open.map(\.id))
        for (id, span) in spans where span.end == nil && !kept.contains(id) { spans[id]?.end = max(span.since, time) }
    }

    /// Restores a counter's last value from a snapshot.
    mutating func restoreCounter(slot s: Int, _ value: Double?) { series[s].lastCounter = value ?? .nan }

    func counter(slot s: Int) -> Double? { series[s].lastCounter.isNaN ? nil : series[s].lastCounter }

    /// Series evicted: their figures are all closed (nothing open), so only per-series arrays shrink.
    mutating func remove(_ gone: [Int], ids: [SeriesID], kept: [Bool]) {
        for index in gone {
            seriesPerKey[Int(series[index].key)] -= 1
            if series[index].meterDemand != 0 { demand[ids[index].park]?.total -= series[index].meterDemand }
        }
        series = series.compacted(kept)
        for k in greenLast.indices {
            var moved: [Int32: Double] = [:]
            var slot: Int32 = 0
            for index in kept.indices where kept[index] {
                if let value = greenLast[k][Int32(index)] { moved[slot] = value }
                slot += 1
            }
            greenLast[k] = moved
        }
    }

    /// The park and pillar summaries of schedule k's interval [from, to); starts a new one.
    mutating func close(
        schedule k: Int, from: EventTime, to: EventTime, ids: [SeriesID], expected: [SeriesID],
        stale: [SeriesID], sites: [String: ParkSite], compliance: [ComplianceTally] = []
    ) -> [ParkSummary] {
        var builders: [ParkPillar: ParkSummary.Builder] = [:]
        for (index, key) in keys.enumerated() {
            let pp = ParkPillar(park: key.park, pillar: key.pillar)
            if seriesPerKey[index] == 0 && figures[k][index].readings == 0 && builders[pp] == nil { continue }
            builders[pp, default: .init()].add(kind: key.kind, figures[k][index], known: seriesPerKey[index])
        }
        for (slot, value) in greenLast[k].sorted(by: { $0.key < $1.key }) {
            let id = ids[Int(slot)]
            builders[ParkPillar(park: id.park, pillar: id.pillar)]?.lastGreenArea[id.sensor] = value
        }
        for id in expected {
            builders[ParkPillar(park: id.park, pillar: id.pillar), default: .init()].expected += 1
        }
        for id in stale {
            builders[ParkPillar(park: id.park, pillar: id.pillar)]?.staleSensors.insert(id)
        }
        for (id, span) in spans {
            let start = max(span.since, from)
            let end = min(span.end ?? to, to)
            if end > start {
                let key = ParkPillar(park: span.series.park, pillar: span.series.pillar)
                builders[key, default: .init()].exceedanceMilliseconds[
                    ExceedanceKey(rule: span.rule, sensor: span.series.sensor), default: 0] +=
                    end.milliseconds - start.milliseconds
            }
            // Kept until the longest schedule has counted it.
            if let ended = span.end, ended <= to, k == schedules - 1 { spans[id] = nil }
        }
        for tally in compliance {
            builders[ParkPillar(park: tally.series.park, pillar: tally.series.pillar), default: .init()].compliance
                .append(tally)
        }
        for (park, figures) in demand {
            builders[ParkPillar(park: park, pillar: .energy)]?.peakDemand = figures.peaks[k]
        }
        reset(schedule: k)
        return builders.sorted { ($0.key.park, $0.key.pillar.rawValue) < ($1.key.park, $1.key.pillar.rawValue) }.map {
            $0.value.build(park: $0.key.park, pillar: $0.key.pillar, site: sites[$0.key.park])
        }
    }

    /// Starts schedule k's interval afresh: its figures, green-area surveys, reporting marks
    /// and demand peak (episodes stay: they span intervals).
    mutating func reset(schedule k: Int) {
        for index in figures[k].indices { figures[k][index] = Figures() }
        greenLast[k].removeAll(keepingCapacity: true)
        let bit = ~(UInt8(1) << UInt8(k))
        for s in series.indices { series[s].reported &= bit }
        for park in demand.keys { demand[park]?.peaks[k] = nil }
    }
}
