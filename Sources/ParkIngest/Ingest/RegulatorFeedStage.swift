import TelemetryCore

/// An automatic monitoring station as the authority knows it: its id, where its instruments
/// are (park and zone), and which series stands for each parameter code.
public struct FeedStation: Sendable, Equatable {
    public struct Parameter: Sendable, Equatable {
        public var code: String
        public var kind: String
        /// Nil: every sensor of that kind in the station's zone (averaged together).
        public var sensor: String?
        public var unit: String
        public init(code: String, kind: String, sensor: String? = nil, unit: String) {
            self.code = code
            self.kind = kind
            self.sensor = sensor
            self.unit = unit
        }
    }

    public var id: String
    public var park: String
    public var zone: String
    public var parameters: [Parameter]

    public init(id: String, park: String, zone: String, parameters: [Parameter]) {
        self.id = id
        self.park = park
        self.zone = zone
        self.parameters = parameters
    }

    /// What the sources list for a wastewater outlet (BOD5 is not among them: a lab test).
    public static let wastewaterParameters = [
        Parameter(code: "Flow", kind: "ww_flow", unit: "m3/h"),
        Parameter(code: "Temp", kind: "ww_temperature", unit: "oC"),
        Parameter(code: "pH", kind: "ww_ph", unit: "-"), Parameter(code: "TSS", kind: "ww_tss", unit: "mg/L"),
        Parameter(code: "COD", kind: "ww_cod", unit: "mg/L"), Parameter(code: "NH4", kind: "ww_nh4", unit: "mg/L"),
    ]

    /// What the sources list for a stack.
    public static let stackParameters = [
        Parameter(code: "Flow", kind: "stack_flow", unit: "m3/h"),
        Parameter(code: "Temp", kind: "stack_temperature", unit: "oC"),
        Parameter(code: "PM", kind: "stack_dust", unit: "mg/Nm3"), Parameter(code: "O2", kind: "stack_o2", unit: "%"),
        Parameter(code: "SO2", kind: "stack_so2", unit: "mg/Nm3"),
        Parameter(code: "NOx", kind: "stack_nox", unit: "mg/Nm3"),
        Parameter(code: "CO", kind: "stack_co", unit: "mg/Nm3"),
    ]
}

/// Stage 6c, the regulator feed: every reading of a station's parameter goes into its clock-
/// aligned cycle (5 minutes by default); a cycle closes once the event clock or the wall clock
/// has passed its end by the grace time, and becomes one `FeedCycle` per station, silent
/// stations included (their parameters `---`, status 02), so the authority sees every cycle
/// from the first reading on. The open cycles and where the feed stands are saved across a
/// restart (`saved`, by station id and parameter code), so a stop loses no part of a cycle
/// and the cycles the gateway was down for are written as silent ones.
package struct RegulatorFeedStage {
    package let stations: [FeedStation]
    package let cycleMilliseconds: Int64
    package let graceMilliseconds: Int64
    let calendar: LocalCalendar
    /// Per series slot: station << 16 | parameter, -1 none, -2 not yet resolved.
    private var slots: [Int32] = []

    struct Accumulator: Equatable {
        var sum = 0.0
        var count = 0
        var calibrating = 0
        var errors = 0
    }

    /// Open cycles by start: per station, per parameter.
    private var open: [Int64: [[Accumulator]]] = [:]
    /// Every cycle before this instant was taken; nil before the first take.
    private(set) var closedThrough: Int64?
    /// Readings for a cycle already taken (its file went): counted, not written.
    private(set) var late = 0
    /// What survives a restart: where the feed stands and the open cycles' sums, by station id
    /// and parameter code (a station or parameter no longer configured is left out).
    package struct Saved: Codable, Sendable, Equatable {
        package struct Parameter: Codable, Sendable, Equatable {
            var station: String
            var code: String
            var sum: Double
            var count: Int
            var calibrating: Int
            var errors: Int
        }
        package struct Cycle: Codable, Sendable, Equatable {
            var start: Int64
            var parameters: [Parameter]
        }
        var closedThrough: Int64?
        var late: Int
        var open: [Cycle]
    }

    package var saved: Saved {
        Saved(
            closedThrough: closedThrough, late: late,
            open: open.keys.sorted().map { start in
                var parameters: [Saved.Parameter] = []
                for (s, station) in stations.enumerated() {
                    for (p, parameter) in station.parameters.enumerated() {
                        let a = open[start]![s][p]
                        guard a != Accumulator() else { continue }
                        parameters.append(
                            .init(
                                station: station.id, code: parameter.code, sum: a.sum, count: a.count,
                                calibrating: a.calibrating, errors: a.errors))
                    }
                }
                return Saved.Cycle(start: start, parameters: parameters)
            })
    }

    package mutating func restore(_ saved: Saved) {
        closedThrough = saved.closedThrough
        late = saved.late
        for cycle in saved.open {
            var accumulators = stations.map { Array(repeating: Accumulator(), count: $0.parameters.count) }
            for p in cycle.parameters {
                guard let s = stations.firstIndex(where: { $0.id == p.station }),
                    let k = stations[s].parameters.firstIndex(where: { $0.code == p.code })
                else { continue }
                accumulators[s][k] = Accumulator(
                    sum: p.sum, count: p.count, calibrating: p.calibrating, errors: p.errors)
            }
            open[cycle.start] = accumulators
        }
    }

    /// At most this many cycles per station in one take (a clock that jumped by days).
    static let maxCyclesPerTake = 2 * 288

    package init(stations: [FeedStation], cycleMilliseconds: Int64, graceMilliseconds: Int64, utcOffsetMinutes: Int) {
        self.stations = stations
        self.cycleMilliseconds = cycleMilliseconds
        self.graceMilliseconds = graceMilliseconds
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
    }

    package var isEmpty: Bool { stations.isEmpty }

    package mutating func opened(slot: Int32) {
        while slots.count <= Int(slot) { slots.append(-2) }
    }

    package mutating func remove(kept: [Bool]) {
        guard !stations.isEmpty else { return }
        slots = slots.compacted(kept)
    }

    private func resolve(_ id: SeriesID) -> Int32 {
        for (s, station) in stations.enumerated() where station.park == id.park && station.zone == id.zone {
            for (p, parameter) in station.parameters.enumerated()
            where parameter.kind == id.kind && (parameter.sensor.map { $0 == id.sensor } ?? true) {
                return Int32(s << 16 | p)
            }
        }
        return -1
    }

    /// A reading the series admitted (accepted, or flagged calibrating, error or out of range).
    package mutating func observe(slot: Int, _ id: SeriesID, _ reading: Reading, _ outcome: SeriesState.Outcome) {
        guard !stations.isEmpty else { return }
        if slots[slot] == -2 { slots[slot] = resolve(id) }
        let code = slots[slot]
        guard code >= 0 else { return }
        let start = calendar.floor(reading.time, step: cycleMilliseconds)
        if let through = closedThrough, start < through {
            late += 1
            return
        }
        let (s, p) = (Int(code >> 16), Int(code & 0xFFFF))
        if open[start] == nil {
            open[start] = stations.map { Array(repeating: Accumulator(), count: $0.parameters.count) }
        }
        switch outcome {
        case .accepted:
            open[start]![s][p].sum += reading.value
            open[start]![s][p].count += 1
        case .calibrating: open[start]![s][p].calibrating += 1
        case .error, .invalid: open[start]![s][p].errors += 1
        default: break
        }
    }

    /// The cycles that ended at least the grace time before `clock` (the later of the wall
    /// clock and the newest reading's time), every station's, oldest first.
    package mutating func take(clock: EventTime) -> [FeedCycle] {
        guard !stations.isEmpty else { return [] }
        let through = calendar.floor(
            EventTime(milliseconds: clock.milliseconds &- graceMilliseconds), step: cycleMilliseconds)
        // Cycles start with the first reading of any station (after a start or a restart).
        guard let first = closedThrough ?? open.keys.min() else { return [] }
        var next = first
        if (through - next) / cycleMilliseconds > Int64(Self.maxCyclesPerTake) {
            next = through - Int64(Self.maxCyclesPerTake) * cycleMilliseconds
        }
        var cycles: [FeedCycle] = []
        while next < through {
            let accumulators = open.removeValue(forKey: next)
            for (s, station) in stations.enumerated() {
                let parameters = station.parameters.enumerated().map { p, parameter in
                    let a = accumulators?[s][p] ?? Accumulator()
                    let status: FeedStatus =
                        a.count > 0 ? .measuring : a.calibrating > 0 && a.errors == 0 ? .calibrating : .error
                    return FeedCycle.Parameter(
                        code: parameter.code, unit: parameter.unit, mean: a.count > 0 ? a.sum / Double(a.count) : nil,
                        readings: a.count, status: status)
                }
                cycles.append(
                    FeedCycle(
                        station: station.id, start: EventTime(milliseconds: next),
                        end: EventTime(milliseconds: next + cycleMilliseconds), parameters: parameters))
            }
            next += cycleMilliseconds
        }
        closedThrough = next
        // Cycles skipped by a jump, or older than the first take: nothing will write them.
        for start in open.keys where start < next { open[start] = nil }
        return cycles
    }
}
