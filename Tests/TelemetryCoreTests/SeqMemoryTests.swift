import Testing

@testable import TelemetryCore

@Suite("Sequence memory")
struct SeqMemoryTests {
    static let t0 = Int64(1_795_400_000_000)
    static func reading(_ seq: Int64, at k: Int64? = nil) -> Reading {
        Reading(value: Double(seq % 7), time: EventTime(milliseconds: t0 + (k ?? seq) * 1000), seq: seq)
    }
    static let windows = WindowSpec.defaults(utcOffsetMinutes: 0)

    @Test("a saved memory with a seq beyond what a payload can carry is refused (its arithmetic would trap)")
    func implausibleSeqRefused() throws {
        func saved(highest: Int64) -> [UInt8] {
            var w = ByteWriter()
            w.bool(true)
            w.i64(highest)
            w.i64(Self.t0)
            for _ in 0..<16 { w.u64(0) }
            return w.bytes
        }
        for bad in [Int64.min, -9_000_000_000_000_001, 9_000_000_000_000_000, .max] {
            var r = ByteReader(saved(highest: bad))
            #expect(throws: SnapshotError.self, "\(bad)") { try SeqMemory(decoding: &r) }
        }
        var r = ByteReader(saved(highest: 8_999_999_999_999_999))
        var memory = try SeqMemory(decoding: &r)
        // The lowest seq a payload can carry, after the highest: no overflow, a new count.
        memory.record(seq: -8_999_999_999_999_999, time: EventTime(milliseconds: Self.t0 + 1000))
        #expect(memory.highest == -8_999_999_999_999_999)
    }

    @Test("seqs and times as far apart as Int64 allows (an old snapshot's raw readings) are judged without overflow")
    func extremesDoNotTrap() {
        let far = EventTime(milliseconds: .max / 2)
        let early = EventTime(milliseconds: .min / 2)
        var memory = SeqMemory()
        memory.record(seq: .min, time: early)
        // Higher by more than Int64 holds: a jump that clears the memory.
        memory.record(seq: .max, time: early)
        #expect(memory.highest == .max)
        #expect(memory.repeats(seq: .max, time: early))
        // Lower by more than Int64 holds, newer by more than Int64 holds: a restarted count.
        #expect(!memory.repeats(seq: .min + 10, time: far))
        memory.record(seq: .min + 10, time: far)
        #expect(memory.highest == .min + 10)
        // Far below the highest and not newer: not a repeat (the memory holds 1 024), no restart.
        memory.record(seq: .max, time: far)
        #expect(!memory.repeats(seq: .min, time: early))
    }

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

    /// 50 002 readings taken for 50 000 distinct ones, in a broker-crash run: QoS 1
    /// redeliveries with the same seq, no device time, and a newer arrival time.
    @Test("a redelivery without a device time is a duplicate, though it arrives later")
    func redeliveryWithoutTime() {
        var state = SeriesState(windows: Self.windows)
        // No `ts`: each reading's time is its arrival, one a second.
        for seq in Int64(0)..<100 { #expect(state.add(Self.reading(seq)) == .accepted) }
        // The broker crashed before the acknowledgements of 98 and 99 left: both come again,
        // two seconds later, with their arrival times.
        #expect(state.add(Self.reading(98, at: 101)) == .duplicate)
        #expect(state.add(Self.reading(99, at: 102)) == .duplicate)
        #expect(state.add(Self.reading(100, at: 103)) == .accepted)
        // A seq within the memory never taken (out of order, not a repeat) is still accepted.
        var memory = SeqMemory()
        for seq in [Int64(10), 12] { memory.record(seq: seq, time: Self.reading(seq).time) }
        #expect(!memory.repeats(seq: 11, time: Self.reading(13).time))
        #expect(memory.repeats(seq: 12, time: Self.reading(14).time))
    }

    @Test("a genuine restart: the count back at its start, or an hour of silence, opens a new count")
    func genuineRestart() {
        var state = SeriesState(windows: Self.windows)
        for seq in Int64(0)..<100 { #expect(state.add(Self.reading(seq)) == .accepted) }
        // Rebooted: 0, 1, 2 again, later.
        for (n, seq) in [Int64(0), 1, 2].enumerated() {
            #expect(state.add(Self.reading(seq, at: 200 + Int64(n))) == .accepted)
        }
        // And its own redelivery is a duplicate in the new count.
        #expect(state.add(Self.reading(2, at: 205)) == .duplicate)
        // An hour of silence: a lower seq after it is a new count.
        var memory = SeqMemory()
        memory.record(seq: 400, time: Self.reading(400).time)
        memory.record(seq: 500, time: Self.reading(500).time)
        #expect(memory.repeats(seq: 400, time: Self.reading(400, at: 500 + 3599).time))
        #expect(!memory.repeats(seq: 400, time: Self.reading(400, at: 500 + 3600).time))
    }

    @Test("a seq further back than the memory is never taken for a repeat of the seq that shares its slot")
    func beyondTheSpan() {
        var memory = SeqMemory()
        for seq in Int64(0)..<2000 { memory.record(seq: seq, time: Self.reading(seq).time) }
        // 5 shares its slot with 1029 and 2053; 1029 was taken, 5 was not (it fell out).
        #expect(!memory.repeats(seq: 5, time: Self.reading(1500).time))
        #expect(memory.repeats(seq: 1999, time: Self.reading(1999).time))
    }

    @Test("a memory that never took a seq saves and restores as empty, then takes seqs like a fresh one")
    func unusedRoundTrip() throws {
        var w = ByteWriter()
        SeqMemory().encode(&w)
        #expect(w.bytes.count == 1 + 8 + 8 + 16 * 8)  // the layout of a used memory
        var r = ByteReader(w.bytes)
        var restored = try SeqMemory(decoding: &r)
        #expect(restored == SeqMemory())
        #expect(!restored.repeats(seq: 7, time: Self.reading(7).time))
        restored.record(seq: 7, time: Self.reading(7).time)
        #expect(restored.repeats(seq: 7, time: Self.reading(7).time))
        #expect(!restored.repeats(seq: 6, time: Self.reading(6).time))
    }
}
