import Testing

@testable import TelemetryCore

/// What each series costs is mostly the size of a few structs times the series held: these
/// guard the sizes the README's memory figures rest on (a field added to a per-series struct
/// should be a decision, not an accident).
@Suite("Per-series memory layout")
struct MemoryLayoutTests {
    @Test("a window spec is one shared reference; a ring is one cache line")
    func ringSizes() {
        // The fields (name, length, bucket, offset) live in one box all series share.
        #expect(MemoryLayout<WindowSpec>.size == 8)
        // 8 spec + 4 flags and owner + 4 revision + 4 arrays of 8 + 8 newest start + 4 slot = 60.
        #expect(MemoryLayout<BucketRing>.stride == 64)
    }

    @Test("a series keeps its kind's settings by reference")
    func seriesSize() {
        // 8 settings + 40 raw ring + 8 rings + 16 watermark + 80 counts + 16 counter time
        // + 32 seq memory + 1 = 201, padded to 208 (it was 288 with the settings inline).
        #expect(MemoryLayout<SeriesState>.stride == 208)
    }

    @Test("a raw ring's storage follows the readings it holds, up to its capacity")
    func rawRingGrows() {
        var ring = RawRing(capacity: 16)
        for k in 0..<3 {
            ring.append(Reading(value: Double(k), time: EventTime(milliseconds: Int64(k) * 1000)))
        }
        #expect(ring.storedCapacity < 16)
        for k in 3..<40 {
            ring.append(Reading(value: Double(k), time: EventTime(milliseconds: Int64(k) * 1000)))
        }
        #expect(ring.readings.map(\.value) == (24..<40).map(Double.init))
    }
}
