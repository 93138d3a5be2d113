import Testing

@testable import TelemetryCore

@Suite("Sequence memory")
struct SeqMemoryTests {
    static let t0 = Int64(1_795_400_000_000)
    static func reading(_ seq: Int64, at k: Int64? = nil) -> Reading {
        Reading(value: Double(seq % 7), time: EventTime(milliseconds: t0 + (k ?? seq) * 1000), seq: seq)
    }
    static let windows = WindowSpec.defaults(utcOffsetMinutes: 0)

    @Test("a redelivered backlog of 1 000 readings is recognised reading by reading, beyond the raw ring's 16")
    func redeliveredBacklog() {
        var state = SeriesState(windows: Self.windows)
        for seq in Int64(0)..<1000 { #expect(state.add(Self.reading(seq)) == .accepted) }
        var outcomes: [SeriesState.Outcome: Int] = [:]
        for seq in Int64(0)..<1000 { outcomes[state.add(Self.reading(seq)), default: 0] += 1 }
        // The 1 000 again: the newest 300 s are within lateness (5 min) and are duplicates;
        // the older ones are late (behind the series' clock) before any duplicate check.
        #expect(outcomes[.duplicate] == 301)
        #expect(outcomes[.late] == 699)
        #expect(outcomes[.accepted] == nil)
    }

    @Test("out-of-order readings are taken once; a sensor that restarts its count is not a repeat")
    func restartsAndOrder() {
        var memory = SeqMemory()
        for seq in [Int64(5), 7, 6, 8] {
            let r = Self.reading(seq)
            #expect(!memory.repeats(seq: seq, time: r.time))
            memory.record(seq: seq, time: r.time)
        }
        #expect(memory.repeats(seq: 6, time: Self.reading(6).time))
        // Rebooted: seq 0 again, with a newer time.
        let reboot = Self.reading(0, at: 100)
        #expect(!memory.repeats(seq: 0, time: reboot.time))
        memory.record(seq: 0, time: reboot.time)
        #expect(memory.highest == 0)
        #expect(memory.repeats(seq: 0, time: reboot.time))
        // A jump past the span forgets what it skipped.
        memory.record(seq: 5000, time: Self.reading(5000, at: 200).time)
        #expect(!memory.repeats(seq: 4000, time: Self.reading(4000, at: 150).time))
    }

    @Test("the memory survives a snapshot: redeliveries after a restart are still duplicates")
    func acrossSnapshot() throws {
        var state = SeriesState(windows: Self.windows)
        for seq in Int64(0)..<200 { state.add(Self.reading(seq, at: seq / 10)) }  // 10 readings a second
        var w = ByteWriter()
        state.encode(&w)
        var r = ByteReader(w.bytes)
        var restored = try SeriesState(decoding: &r, windows: Self.windows, settings: .init())
        #expect(restored.seqs == state.seqs)
        var duplicates = 0
        for seq in Int64(0)..<200 where restored.add(Self.reading(seq, at: seq / 10)) == .duplicate { duplicates += 1 }
        #expect(duplicates == 200)
    }
}
