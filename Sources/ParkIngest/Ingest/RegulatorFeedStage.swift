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
/// aligned cycle (5 minutes by default). Each station keeps its own clock: a cycle of a station
/// closes once the wall clock, or that station's own newest reading, has passed its end by the
/// grace time (a datalogger running ahead, a backlog replayed fast), so one sensor with a fast
/// clock cannot close another station's cycle early. A closed cycle becomes one `FeedCycle`,
/// silent stations included (their parameters `---`, status 02), so the authority sees every
/// cycle from a station's first reading on. The open cycles and where each station stands are
/// saved across a restart (`saved`, by station id and parameter code), so a stop loses no part
/// of a cycle and the cycles the gateway was down for are written as silent ones.
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

    /// Per station: its open cycles by start, per parameter.
    private var open: [[Int64: [Accumulator]]]
    /// Per station: every cycle before this instant was taken; nil before its first reading.
    private var closedThrough: [Int64?]
    /// Per station: the newest reading's time (its own clock).
    private var newest: [Int64]
    /// Readings for a cycle already taken (its file went): counted, not written.
    private(set) var late = 0
    /// At most this many cycles per station in one take (a clock that jumped by days).
    static let maxCyclesPerTake = 2 * 288

    package init(stations: [FeedStation], cycleMilliseconds: Int64, graceMilliseconds: Int64, utcOffsetMinutes: Int) {
        self.stations = stations
        self.cycleMilliseconds = cycleMilliseconds
        self.graceMilliseconds = graceMilliseconds
        calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        open = Array(repeating: [:], count: stations.count)
        closedThrough = Array(repeating: nil, count: stations.count)
        newest = Array(repeating: .min, count: stations.count)
    }

    package var isEmpty: Bool { stations.isEmpty }

    package mutating func opened(slot: Int32) {
        guard !stations.isEmpty else { return }
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
    package mutating func observe(
        slot: Int, _ id: @autoclosure () -> SeriesID, _ reading: Reading, _ outcome: SeriesState.Outcome
    ) {
        guard !stations.isEmpty else { return }
        if slots[slot] == -2 { slots[slot] = resolve(id()) }
        let code = slots[slot]
        guard code >= 0 else { return }
        let (s, p) = (Int(code >> 16), Int(code & 0xFFFF))
        switch outcome {
        case .accepted, .calibrating, .error, .invalid: break
        default: return
        }
        let start = calendar.floor(reading.time, step: cycleMilliseconds)
        if let through = closedThrough[s], start < through {
            late += 1
            return
        }
        newest[s] = max(newest[s], reading.time.milliseconds)
        let n = stations[s].parameters.count
        // One lookup, modified in place.
        Self.count(reading.value, outcome, into: &open[s][start, default: Array(repeating: Accumulator(), count: n)][p])
    }

    private static func count(_ value: Double, _ outcome: SeriesState.Outcome, into a: inout Accumulator) {
        switch outcome {
        case .accepted:
            a.sum += value
            a.count += 1
        case .calibrating: a.calibrating += 1
        default: a.errors += 1
        }
    }

    /// Every station's cycles that ended at least the grace time before the later of the wall
    /// clock and the station's own newest reading, oldest first (stations in order on a tie).
    package mutating func take(wallClock: EventTime) -> [FeedCycle] {
        guard !stations.isEmpty else { return [] }
        var cycles: [FeedCycle] = []
        for (s, station) in stations.enumerated() {
            let clock = max(wallClock.milliseconds, newest[s])
            let through = calendar.floor(
                EventTime(milliseconds: clock &- graceMilliseconds), step: cycleMilliseconds)
            // A station's cycles start with its first reading (after a start or a restart).
            guard var next = closedThrough[s] ?? open[s].keys.min() else { continue }
            if (through - next) / cycleMilliseconds > Int64(Self.maxCyclesPerTake) {
                next = through - Int64(Self.maxCyclesPerTake) * cycleMilliseconds
            }
            while next < through {
                let accumulators = open[s].removeValue(forKey: next)
                let parameters = station.parameters.enumerated().map { p, parameter in
                    let a = accumulators?[p] ?? Accumulator()
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
                next += cycleMilliseconds
            }
            closedThrough[s] = max(closedThrough[s] ?? next, next)
            // Cycles skipped by a jump: nothing will write them.
            for start in open[s].keys where start < next { open[s][start] = nil }
        }
        return cycles.sorted { ($0.end, $0.station) < ($1.end, $1.station) }
    }

    /// What survives a restart: the cycle length, where each station stands and its open
    /// cycles' sums, by station id and parameter code (a station or parameter no longer
    /// configured is left out).
    package struct Saved: Codable, Sendable, Equatable {
        package struct Parameter: Codable, Sendable, Equatable {
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
        package struct Station: Codable, Sendable, Equatable {
            var id: String
            var closedThrough: Int64?
            var newest: Int64
            var open: [Cycle]
        }
        var cycleMilliseconds: Int64
        var late: Int
        var stations: [Station]
    }

    package var saved: Saved {
        Saved(
            cycleMilliseconds: cycleMilliseconds, late: late,
            stations: stations.enumerated().map { s, station in
                Saved.Station(
                    id: station.id, closedThrough: closedThrough[s], newest: newest[s],
                    open: open[s].keys.sorted().map { start in
                        Saved.Cycle(
                            start: start,
                            parameters: station.parameters.enumerated().compactMap { p, parameter in
                                let a = open[s][start]![p]
                                return a == Accumulator()
                                    ? nil
                                    : .init(
                                        code: parameter.code, sum: a.sum, count: a.count, calibrating: a.calibrating,
                                        errors: a.errors)
                            })
                    })
            })
    }

    /// False when the saved state is of another cycle length (then nothing is taken from it).
    package mutating func restore(_ saved: Saved) -> Bool {
        guard saved.cycleMilliseconds == cycleMilliseconds else { return false }
        late = saved.late
        for station in saved.stations {
            guard let s = stations.firstIndex(where: { $0.id == station.id }) else { continue }
            closedThrough[s] = station.closedThrough
            newest[s] = station.newest
            for cycle in station.open {
                var accumulators = Array(repeating: Accumulator(), count: stations[s].parameters.count)
                for p in cycle.parameters {
                    guard let k = stations[s].parameters.firstIndex(where: { $0.code == p.code }) else { continue }
                    accumulators[k] = Accumulator(
                        sum: p.sum, count: p.count, calibrating: p.calibrating, errors: p.errors)
                }
                open[s][cycle.start] = accumulators
            }
        }
        return true
    }
}
