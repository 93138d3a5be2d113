import Testing

@testable import TelemetryCore

/// The per-second tick looks at the series with an alert or an open exceedance, and at every
/// series only once a stale rule's silence may be up. These check that it decides exactly
/// what a pass over every series decides.
@Suite("The silence tick")
struct RuleTickTests {
    static let minute: Int64 = 60_000
    static let t0 = Int64(1_795_400_000_000)  // 2026-11-23T02:13:20Z: night for the night rule

    static let rules: [Rule] = {
        var night = Rule(
            id: "night", description: "night noise", severity: .critical, reference: "QCVN 26",
            matcher: SeriesMatcher(kind: "noise"),
            condition: .threshold(source: .reading, above: true, limit: 55, clear: nil),
            forMilliseconds: 2 * minute)
        night.activeMinutes = (start: 22 * 60, end: 6 * 60)
        night.utcOffsetMinutes = 0
        return [
            Rule(
                id: "stale", description: "silent", matcher: SeriesMatcher(kind: "pm25"),
                condition: .stale(afterMilliseconds: 7 * minute)),
            Rule(
                id: "stale-long", description: "long silent", matcher: SeriesMatcher(park: "p1"),
                condition: .stale(afterMilliseconds: 40 * minute), renotifyMilliseconds: 30 * minute),
            Rule(
                id: "high", description: "high", reference: "QCVN 05",
                matcher: SeriesMatcher(kind: "pm25"),
                condition: .threshold(source: .reading, above: true, limit: 50, clear: 45)),
            night,
            // Rules an accepted `ok` reading can only clear (a series with nothing open skips
            // them for such a reading): they must still fire on the others.
            Rule(
                id: "out-of-range", description: "out of range", matcher: SeriesMatcher(kind: "pm25"),
                condition: .outOfRange),
            Rule(
                id: "calibrating", description: "calibrating long", matcher: SeriesMatcher(park: "p2"),
                condition: .calibrating(afterMilliseconds: 5 * minute)),
        ]
    }()

    static func series(_ k: Int) -> SeriesID {
        SeriesID(park: "p\(k % 3)", zone: "z", pillar: .emissions, kind: k % 4 == 0 ? "noise" : "pm25", sensor: "s\(k)")
    }

    @Test(
        "a tick that looks at the engaged series alone decides what a pass over all of them does (property)",
        arguments: 1...24)
    func lazyEqualsFull(seed: UInt64) {
        var random = SeededRandom(seed: seed &* 7_919)
        let expected = [Self.series(100), Self.series(101), Self.series(104)]
        var lazy = RuleEngine(rules: Self.rules, expected: expected, startedAt: EventTime(milliseconds: Self.t0))
        var full = lazy
        full.lazy = false
        var states: [SeriesID: SeriesState] = [:]
        var time = Self.t0
        var transitions = 0
        var observed: Set<String> = []
        for step in 0..<400 {
            // Mostly a minute or less; sometimes a long silence, past every stale rule and into the day.
            time +=
                Int.random(in: 0..<25, using: &random) == 0
                ? Int64.random(in: 30...200, using: &random) * Self.minute
                : Int64.random(in: 0...70_000, using: &random)
            let now = EventTime(milliseconds: time)
            // Some sensors report (a few stay silent for long stretches: high k only now and then).
            for k in 0..<24 where Int.random(in: 0..<(k < 12 ? 3 : 40), using: &random) == 0 {
                let id = Self.series(k)
                // Now and then a reading out of the range (0...65 here), calibrating or in error
                // (a quiet series switching between ok and calibrating); some sensors calibrate
                // for a stretch too (long enough for the calibrating rule).
                let roll = Int.random(in: 0..<12, using: &random)
                let status: ReadingStatus =
                    k % 5 == 0 && (100..<180).contains(step) || roll < 2 ? .calibrating : roll == 2 ? .error : .ok
                let reading = Reading(
                    value: Double.random(in: 30...70, using: &random).rounded(), time: now, status: status)
                var settings = SeriesState.Settings()
                settings.range = 0...65
                var state =
                    states[id] ?? SeriesState(windows: WindowSpec.defaults(utcOffsetMinutes: 0), settings: settings)
                let outcome = state.add(reading)
                states[id] = state
                // Some readings arrive without a sign of life (a retained message); a few are
                // seen on an arrival clock that went back, before the engine started.
                let draw = Int.random(in: 0..<30, using: &random)
                let seen: EventTime? =
                    draw < 2 ? nil : draw == 2 ? EventTime(milliseconds: Self.t0 - 20 * Self.minute) : now
                let a = lazy.observe(id, reading: reading, outcome: outcome, state: state, at: now, seen: seen)
                let b = full.observe(id, reading: reading, outcome: outcome, state: state, at: now, seen: seen)
                #expect(a == b, "seed \(seed) step \(step) observe \(id)")
                observed.formUnion(b.map(\.rule))
            }
            let a = lazy.tick(at: now)
            let b = full.tick(at: now)
            transitions += b.count
            #expect(a == b, "seed \(seed) step \(step) tick: \(a.map(\.id)) vs \(b.map(\.id))")
            #expect(lazy.takeExceedances() == full.takeExceedances(), "seed \(seed) step \(step) exceedances")
            // Now and then a quiet series is forgotten (evicted), and an old sighting restored.
            if Int.random(in: 0..<30, using: &random) == 0 {
                let id = Self.series(Int.random(in: 12..<24, using: &random))
                if !full.isActive(id) && !full.openExceedances.contains(where: { $0.series == id }) {
                    lazy.forget([id])
                    full.forget([id])
                }
            }
            if Int.random(in: 0..<40, using: &random) == 0 {
                let seen = [
                    (
                        series: Self.series(Int.random(in: 0..<30, using: &random)),
                        at: EventTime(milliseconds: time - 20 * Self.minute)
                    )
                ]
                lazy.restoreSeen(seen)
                full.restoreSeen(seen)
            }
        }
        #expect(lazy.firing.map(\.rule) == full.firing.map(\.rule))
        // The sequences are not trivial: alerts fire and resolve along the way.
        #expect(transitions > 10, "seed \(seed): \(transitions) transitions")
        // The rules a quiet series skips for an accepted reading fire on the other readings.
        #expect(observed.isSuperset(of: ["out-of-range", "calibrating"]), "seed \(seed): \(observed.sorted())")
    }

    @Test("a series first seen on an arrival clock that went back goes stale at the next tick, as in a full pass")
    func firstSightingBeforeStart() {
        var lazy = RuleEngine(rules: Self.rules, startedAt: EventTime(milliseconds: Self.t0))
        var full = lazy
        full.lazy = false
        let state = SeriesState(windows: WindowSpec.defaults(utcOffsetMinutes: 0))
        func observe(_ k: Int, at minute: Int64, seen seenMinute: Int64) {
            let now = EventTime(milliseconds: Self.t0 + minute * Self.minute)
            let seen = EventTime(milliseconds: Self.t0 + seenMinute * Self.minute)
            let reading = Reading(value: 20, time: now)
            let a = lazy.observe(
                Self.series(k), reading: reading, outcome: .accepted, state: state, at: now, seen: seen)
            let b = full.observe(
                Self.series(k), reading: reading, outcome: .accepted, state: state, at: now, seen: seen)
            #expect(a == b)
        }
        observe(1, at: 0, seen: 0)
        #expect(lazy.tick(at: EventTime(milliseconds: Self.t0)) == full.tick(at: EventTime(milliseconds: Self.t0)))
        // A minute on, a new PM2.5 sensor whose arrival time reads 20 minutes before the start:
        // 21 minutes silent by that clock, past the 7-minute stale rule.
        observe(5, at: 1, seen: -20)
        let later = EventTime(milliseconds: Self.t0 + Self.minute)
        let fired = full.tick(at: later)
        #expect(fired.map(\.rule) == ["stale"])
        #expect(lazy.tick(at: later) == fired)
    }

    @Test("a quiet gateway's tick looks at no series until a stale rule's silence may be up")
    func quietTickSkips() {
        var engine = RuleEngine(rules: Self.rules, startedAt: EventTime(milliseconds: Self.t0))
        for k in 0..<50 {
            let id = Self.series(k)
            let state = SeriesState(windows: WindowSpec.defaults(utcOffsetMinutes: 0))
            let now = EventTime(milliseconds: Self.t0)
            _ = engine.observe(
                id, reading: Reading(value: 20, time: now), outcome: .accepted, state: state, at: now, seen: now)
        }
        _ = engine.tick(at: EventTime(milliseconds: Self.t0))
        // The shortest stale rule waits 7 minutes from the readings at t0.
        #expect(engine.silence.due == Self.t0 + 7 * Self.minute)
        #expect(engine.silence.engaged.count == 0)
        // Seven minutes on, the PM2.5 sensors go stale: those alerts fire, from one full pass.
        let fired = engine.tick(at: EventTime(milliseconds: Self.t0 + 7 * Self.minute))
        #expect(fired.count == (0..<50).filter { Self.series($0).kind == "pm25" }.count)
        #expect(engine.silence.engaged.count == fired.count)
    }
}
