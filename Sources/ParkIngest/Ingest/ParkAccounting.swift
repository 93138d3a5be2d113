import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// An energy meter's figures over one interval of one park.
package struct EnergyFigures {
    /// kWh by `MeterRole.index`.
    package var kwh = [Double](repeating: 0, count: MeterRole.allCases.count)
    /// Bit per role with a meter that reported.
    package var reported: UInt8 = 0
    /// [grid import, gross consumption][TariffPeriod.index]: kWh in each time-of-use period.
    package var tariff = [[Double]](repeating: [0, 0, 0], count: 2)
}

/// Stage 6, park accounting: each reading's share of its park's figures for every summary
/// schedule (1 m, 1 h, 1 d by default). Figures are kept per (park, pillar, kind), not per
/// series, so a summary costs what the parks cost; each series knows its figures' index and
/// its role (an energy meter, a demand meter, a green-area survey) from when it opened.
package struct ParkAccounting {
    package struct Key: Hashable {
        package var park: String
        package var pillar: Pillar
        package var kind: String
    }

    /// One (park, pillar, kind) over one interval.
    package struct Figures {
        package var readings = 0
        package var outcomes = SeriesState.Counts()
        /// Accepted values.
        package var sum = 0.0
        package var count = 0
        /// For counters: the increase (resets handled).
        package var increase = 0.0
        /// Series with a reading in the interval.
        package var reporting = 0
        /// Decibel kinds: Σ10^(L/10) of the accepted values, for the energy average (LAeq).
        package var energy = 0.0
    }

    /// What a series' readings mean for its park, resolved once from its kind.
    package enum Role: UInt8 {
        case plain
        /// `green_area`: the park's green area is the sum of its surveys' last values.
        case greenArea
        /// A decibel kind (noise): its interval figure is the energy average, LAeq.
        case decibels
    }

    private(set) var keys: [Key] = []
    private var keyIndex: [Key: Int32] = [:]
    /// Key `key`'s figures in schedule k's interval are at `key * schedules + k`: one array,
    /// so that a reading's figures in every schedule are one write access, not two per schedule.
    private var figures: [Figures] = []
    /// Series per key (the known sensors of a park and pillar).
    private var seriesPerKey: [Int] = []

    /// What accounting keeps per series, side by side: one cache line per reading, not six.
    private struct Series {
        package var key: Int32
        package var shape: MeasureShape
        package var role: Role
        /// Bit k: the series reported in schedule k's open interval.
        package var reported: UInt8 = 0
        /// The last accepted counter value (NaN before the first).
        package var lastCounter = Double.nan
        /// The time of the last accepted counter value: an increment is spread over
        /// [that time, the reading's time], not put at the reading's time.
        package var lastCounterTime: Int64 = 0
        /// The park (index in `parkNames`) and, for an energy meter, its role's index.
        package var park: Int32 = 0
        package var meter: Int8 = -1
    }
    /// Per series slot.
    private var series: [Series] = []

    /// Energy meters per schedule and park: kWh by role and, for the grid connection
    /// (import meters, or gross consumption meters where a park has none), by tariff period.
    private var energy: [[EnergyFigures]]
    /// Per park and grid-connection role: kWh in each clock-aligned 15-minute interval, for
    /// the contract's peak demand (the interval's energy × 4), and whether some of it was
    /// spread from a meter interval longer than 15 minutes (an estimate).
    private var quarters: [[[Int64: Quarter]]] = []

    struct Quarter {
        var kwh = 0.0
        var estimated = false

        mutating func add(_ share: Double, estimated spread: Bool) {
            kwh += share
            estimated = estimated || spread
        }
    }
    private(set) var parkNames: [String] = []
    private var parkIndex: [String: Int32] = [:]
    /// Per schedule: where its open interval began (older 15-minute intervals can go).
    private var openFrom: [Int64]
    /// Roles of inventory meters; other `energy` meters measure gross consumption, `pv_energy` PV.
    package let meterRoles: [SeriesID: MeterRole]
    package let tariffs: TariffCalendar
    /// Per schedule: green-area surveys' last values by slot.
    private var greenLast: [[Int32: Double]]
    /// Regulatory exceedance spans by id, for minutes in exceedance per rule.
    private(set) var spans: [String: Exceedance] = [:]

    package let schedules: Int
    package let calendar: LocalCalendar
    package static let quarterMilliseconds: Int64 = 900_000
    /// An increment spread over more than this (a meter silent for over a month) is put at
    /// its reading's time instead: bounded work per reading.
    package static let maxSpreadMilliseconds: Int64 = 35 * 86_400_000

    /// Summary schedules whose reporting marks are kept: a series' marks are one byte, a bit
    /// per schedule, so the configuration refuses more intervals. (More still count their
    /// figures without trapping; only their marks are not kept, and each reading would count
    /// as a series' first of the interval.)
    package static let maxSchedules = 8

    package init(
        schedules: Int, utcOffsetMinutes: Int, meterRoles: [SeriesID: MeterRole] = [:],
        tariffs: TariffCalendar? = nil
    ) {
        self.schedules = max(1, schedules)
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        greenLast = Array(repeating: [:], count: self.schedules)
        energy = Array(repeating: [], count: self.schedules)
        openFrom = Array(repeating: .min, count: self.schedules)
        self.meterRoles = meterRoles
        self.tariffs = tariffs ?? TariffCalendar(schedules: [.evn2014], utcOffsetMinutes: utcOffsetMinutes)
    }

    /// A series opened at `slot` (slots are opened in order).
    package mutating func opened(_ id: SeriesID, shape: MeasureShape, decibels: Bool = false) {
        let key = Key(park: id.park, pillar: id.pillar, kind: id.kind)
        let index: Int32
        if let known = keyIndex[key] {
            index = known
        } else {
            index = Int32(keys.count)
            keys.append(key)
            keyIndex[key] = index
            seriesPerKey.append(0)
            for _ in 0..<schedules { figures.append(Figures()) }
        }
        seriesPerKey[Int(index)] += 1
        let park: Int32
        if let known = parkIndex[id.park] {
            park = known
        } else {
            park = Int32(parkNames.count)
            parkNames.append(id.park)
            parkIndex[id.park] = park
            quarters.append([[:], [:]])
            for k in energy.indices { energy[k].append(EnergyFigures()) }
        }
        var meter: Int8 = -1
        if shape == .counter, let role = meterRoles[id] ?? MeterRole.byKind(id.kind) {
            meter = Int8(role.index)
        }
        series.append(
            Series(
                key: index, shape: shape, role: id.kind == "green_area" ? .greenArea : decibels ? .decibels : .plain,
                park: park, meter: meter))
    }

    /// Counts a reading refused before its series (its time, a retained copy).
    package mutating func refused(slot s: Int, _ outcome: SeriesState.Outcome) {
        let first = Int(series[s].key) * schedules
        for k in 0..<schedules {
            Self.count(&figures[first + k], outcome, 0, delta: 0, energy: 0, reporting: firstReport(s, k))
        }
    }

    /// Accounts one reading that reached series `s`, with what became of it.
    package mutating func record(slot s: Int, _ outcome: SeriesState.Outcome, _ reading: Reading) {
        // The series' record (no references in it) is read once and written back once: each
        // write to an array element checks the array's uniqueness.
        var one = series[s]
        var delta = 0.0
        let accepted = outcome == .accepted
        var since: Int64?
        if accepted && one.shape == .counter {
            let previous = one.lastCounter
            if !previous.isNaN {
                delta = reading.value >= previous ? reading.value - previous : reading.value
                since = one.lastCounterTime
            }
            one.lastCounter = reading.value
            one.lastCounterTime = reading.time.milliseconds
        }
        // Computed once, not per schedule: the same value added to each.
        let energyTerm = accepted && one.role == .decibels ? pow(10, reading.value / 10) : 0
        let first = Int(one.key) * schedules
        let reported = one.reported
        // Every schedule's bit (a UInt8 holds the first 8): built as a UInt8, `1 << 63 - 1` trapped.
        one.reported |= schedules >= 8 ? .max : UInt8(1 << schedules) - 1
        series[s] = one
        // Checked once here: the buffer's own subscript is not checked in a release build.
        precondition(first + schedules <= figures.count, "park accounting: figures of key \(one.key) missing")
        figures.withUnsafeMutableBufferPointer { figures in
            for k in 0..<schedules {
                // One access to the figures per schedule, not seven.
                Self.count(
                    &figures[first + k], outcome, reading.value, delta: delta, energy: energyTerm,
                    reporting: reported & (1 << UInt8(k)) == 0)
            }
        }
        if accepted && (one.role == .greenArea || one.meter >= 0) {
            for k in 0..<schedules {
                if one.role == .greenArea { greenLast[k][Int32(s)] = reading.value }
                if one.meter >= 0 { energy[k][Int(one.park)].reported |= 1 << UInt8(one.meter) }
            }
        }
        if one.meter >= 0, let since, delta > 0 {
            spread(delta, of: s, from: since, to: reading.time.milliseconds)
        }
    }

    private static func count(
        _ figures: inout Figures, _ outcome: SeriesState.Outcome, _ value: Double, delta: Double, energy: Double,
        reporting: Bool
    ) {
        figures.readings += 1
        figures.outcomes[outcome] += 1
        if reporting { figures.reporting += 1 }
        guard outcome == .accepted else { return }
        figures.sum += value
        figures.count += 1
        figures.increase += delta
        // Zero but for a decibel series' accepted readings.
        figures.energy += energy
    }

    /// Puts a meter's increment over [from, to] pro rata into its role's kWh, and for the grid
    /// connection into tariff periods and clock-aligned 15-minute intervals: a boundary inside
    /// a meter's interval splits the increment instead of shifting it by one interval.
    private mutating func spread(_ delta: Double, of s: Int, from: Int64, to: Int64) {
        let role = Int(series[s].meter)
        let park = Int(series[s].park)
        let grid = MeterRole.allCases[role].gridConnection
        if !grid {
            for k in 0..<schedules { energy[k][park].kwh[role] += delta }
            return
        }
        let slot = MeterRole.allCases[role] == .gridImport ? 0 : 1
        var start = from
        // A zero-length or very long interval: all of it at the reading's time.
        if to <= from || to - from > Self.maxSpreadMilliseconds { start = to - 1 }
        let span = Double(to - start)
        let estimated = to - start > Self.quarterMilliseconds
        var t = start
        while t < to {
            let time = EventTime(milliseconds: t)
            let quarter = calendar.floor(time, step: Self.quarterMilliseconds)
            let next = min(to, quarter + Self.quarterMilliseconds, tariffs.nextChange(after: time).milliseconds)
            let share = delta * Double(next - t) / span
            let period = tariffs.period(at: time)
            for k in 0..<schedules {
                energy[k][park].kwh[role] += share
                energy[k][park].tariff[slot][period.index] += share
            }
            quarters[park][slot][quarter, default: Quarter()].add(share, estimated: estimated)
            t = next
        }
    }

    /// Marks series `s` as reporting in schedule k's open interval; true the first time.
    private mutating func firstReport(_ s: Int, _ k: Int) -> Bool {
        let bit = UInt8(1) << UInt8(k)
        guard series[s].reported & bit == 0 else { return false }
        series[s].reported |= bit
        return true
    }

    /// Whether series `s` has figures in any open interval (it must not be evicted).
    package func hasOpenFigures(_ s: Int) -> Bool { series[s].reported != 0 }

    /// Whether series `s` reported in schedule k's open interval.
    package func reportedIn(_ k: Int, _ s: Int) -> Bool { series[s].reported & (UInt8(1) << UInt8(k)) != 0 }

    /// Notes spans begun or ended (regulatory rules' values beyond their limits).
    package mutating func note(_ changes: [Exceedance]) {
        for span in changes { spans[span.id] = span }
    }

    /// Puts saved spans back, so that minutes in exceedance go on counting after a restart.
    package mutating func restore(_ saved: [Exceedance]) {
        for span in saved where spans[span.id] == nil { spans[span.id] = span }
    }

    /// Ends open spans that are not in `open` (their rule went in a reload) at `time`.
    mutating func endSpans(except open: [Exceedance], at time: EventTime) {
        let kept = Set(open.map(\.id))
        for (id, span) in spans where span.end == nil && !kept.contains(id) { spans[id]?.end = max(span.since, time) }
    }

    /// Restores a counter's last value from a snapshot.
    package mutating func restoreCounter(slot s: Int, _ value: Double?) { series[s].lastCounter = value ?? .nan }

    package func counter(slot s: Int) -> Double? { series[s].lastCounter.isNaN ? nil : series[s].lastCounter }

    /// Series evicted: their figures are all closed (nothing open), so only per-series arrays shrink.
    package mutating func remove(_ gone: [Int], ids: [SeriesID], kept: [Bool]) {
        for index in gone {
            seriesPerKey[Int(series[index].key)] -= 1
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
        forgetUnusedNames()
    }

    /// Drops the (park, pillar, kind) keys and the parks no series holds any more, once no
    /// open interval counts them, and renumbers the rest: names a sender cycles through (kinds
    /// with `allow_unknown_kinds`, parks) would otherwise keep their figures, and every
    /// interval close would walk them, for as long as parkd runs. A park's demand quarters
    /// outlive its meters until no open interval can read them, so such a park goes at a
    /// later eviction.
    private mutating func forgetUnusedNames() {
        var keyKept = seriesPerKey.map { $0 > 0 }
        for key in keys.indices where !keyKept[key] {
            keyKept[key] = (0..<schedules).contains { figures[key * schedules + $0].readings > 0 }
        }
        var parkKept = [Bool](repeating: false, count: parkNames.count)
        for one in series { parkKept[Int(one.park)] = true }
        for park in parkNames.indices where !parkKept[park] {
            parkKept[park] =
                energy.contains { $0[park].reported != 0 } || quarters[park].contains { !$0.isEmpty }
        }
        guard keyKept.contains(false) || parkKept.contains(false) else { return }
        let keyPlace = keyKept.renumbering
        let parkPlace = parkKept.renumbering
        keys = keys.compacted(keyKept)
        seriesPerKey = seriesPerKey.compacted(keyKept)
        figures = figures.compacted(keyKept.flatMap { Array(repeating: $0, count: schedules) })
        keyIndex = keyIndex.renumbered(keyPlace)
        parkNames = parkNames.compacted(parkKept)
        quarters = quarters.compacted(parkKept)
        energy = energy.map { $0.compacted(parkKept) }
        parkIndex = parkIndex.renumbered(parkPlace)
        for s in series.indices {
            series[s].key = keyPlace[Int(series[s].key)]
            series[s].park = parkPlace[Int(series[s].park)]
        }
    }

    /// Keys and parks held (for tests: both shrink as series are evicted).
    package var heldNames: (keys: Int, parks: Int) { (keys.count, parkNames.count) }

    /// The park and pillar summaries of schedule k's interval [from, to); starts a new one.
    package mutating func close(
        schedule k: Int, from: EventTime, to: EventTime, ids: [SeriesID], expected: [SeriesID],
        stale: [SeriesID], sites: [String: ParkSite], compliance: [ComplianceTally] = []
    ) -> [ParkSummary] {
        var builders: [ParkPillar: ParkSummary.Builder] = [:]
        for (index, key) in keys.enumerated() {
            let pp = ParkPillar(park: key.park, pillar: key.pillar)
            let held = figures[index * schedules + k]
            if seriesPerKey[index] == 0 && held.readings == 0 && builders[pp] == nil { continue }
            builders[pp, default: .init()].add(kind: key.kind, held, known: seriesPerKey[index])
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
        for (p, park) in parkNames.enumerated() {
            let figures = energy[k][p]
            guard figures.reported != 0 else { continue }
            // The grid connection: import meters where the park has them, else gross consumption.
            let slot = figures.reported & (1 << UInt8(MeterRole.gridImport.index)) != 0 ? 0 : 1
            var peak: Double?
            var estimated = false
            for (start, quarter) in quarters[p][slot]
            where start >= from.milliseconds && start + Self.quarterMilliseconds <= to.milliseconds {
                peak = max(peak ?? quarter.kwh * 4, quarter.kwh * 4)
                estimated = estimated || quarter.estimated
            }
            let key = ParkPillar(park: park, pillar: .energy)
            builders[key, default: .init()].meters = (figures, slot, peak)
            builders[key]!.peakEstimated = estimated
            builders[key]!.tariffSchedules = tariffs.schedules(from: from, to: to)
        }
        reset(schedule: k)
        opened(schedule: k, at: to)
        // The keys are sorted, not the entries: a builder is large, and sorting the entries moved each
        // one about log n times (3 % of parkd's CPU at 100 000 series and 1 000 parks, 1 s summaries).
        return builders.keys.sorted { ($0.park, $0.pillar.rawValue) < ($1.park, $1.pillar.rawValue) }.map {
            builders[$0]!.build(park: $0.park, pillar: $0.pillar, site: sites[$0.park])
        }
    }

    /// Closes schedule k's interval at `to` without summaries (the next one starts there).
    package mutating func reset(schedule k: Int, to: EventTime) {
        reset(schedule: k)
        opened(schedule: k, at: to)
    }

    /// Starts schedule k's interval afresh: its figures, green-area surveys, reporting marks
    /// and demand peak (episodes stay: they span intervals).
    package mutating func reset(schedule k: Int) {
        for index in keys.indices { figures[index * schedules + k] = Figures() }
        greenLast[k].removeAll(keepingCapacity: true)
        let bit = ~(UInt8(1) << UInt8(k))
        for s in series.indices { series[s].reported &= bit }
        for p in energy[k].indices { energy[k][p] = EnergyFigures() }
    }

    /// The next interval of schedule k starts at `time`; 15-minute intervals no open
    /// interval can still report are dropped.
    private mutating func opened(schedule k: Int, at time: EventTime) {
        openFrom[k] = time.milliseconds
        // A schedule whose first interval has not closed yet started at no known time: it may
        // still need every quarter. (`.min &- 15 min` wrapped to a time in the far future, and
        // the first daily line beside an hourly schedule lost its peak demand.)
        guard let earliest = openFrom.min(), earliest != .min else { return }
        let oldest = earliest - Self.quarterMilliseconds
        for p in quarters.indices {
            for slot in 0..<2 where quarters[p][slot].keys.contains(where: { $0 < oldest }) {
                quarters[p][slot] = quarters[p][slot].filter { $0.key >= oldest }
            }
        }
    }
}
