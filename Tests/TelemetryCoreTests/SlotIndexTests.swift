import Testing

@testable import TelemetryCore

@Suite("Slot index")
struct SlotIndexTests {
    /// A key whose hash the test picks, so that collisions (same cell, same stored hash) are
    /// certain rather than hoped for.
    struct Colliding: Hashable {
        var name: Int
        var bucket: Int
        func hash(into hasher: inout Hasher) { hasher.combine(bucket) }
    }

    static func series(_ n: Int) -> SeriesID {
        SeriesID(park: "p\(n % 3)", zone: "z\(n % 5)", pillar: .emissions, kind: "pm25", sensor: "s\(n)")
    }

    @Test("finds what a dictionary finds, through growth, misses and rebuilds", arguments: 0..<6)
    func matchesDictionary(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed) &+ 11)
        var keys: [SeriesID] = []
        var reference: [SeriesID: Int32] = [:]
        var index = SlotIndex()
        for _ in 0..<4_000 {
            let id = Self.series(Int.random(in: 0..<6_000, using: &random))
            if let known = reference[id] {
                #expect(index.slot(of: id) { keys[Int($0)] } == known)
            } else {
                #expect(index.slot(of: id) { keys[Int($0)] } == nil)
                let slot = Int32(keys.count)
                keys.append(id)
                reference[id] = slot
                index.insert(id, slot: slot)
            }
            #expect(index.count == reference.count)
        }
        // Evict a random half and rebuild, as the owners do.
        keys = keys.filter { _ in Bool.random(using: &random) }
        reference = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, Int32($0)) })
        index = SlotIndex(count: keys.count) { keys[Int($0)] }
        #expect(index.count == keys.count)
        for n in 0..<6_000 {
            let id = Self.series(n)
            #expect(index.slot(of: id) { keys[Int($0)] } == reference[id])
        }
    }

    @Test("keys that share a hash are told apart by the key itself")
    func collisions() {
        // 300 keys in 3 hash buckets: every probe passes cells holding the same stored hash.
        let keys = (0..<300).map { Colliding(name: $0, bucket: $0 % 3) }
        var index = SlotIndex()
        for (slot, key) in keys.enumerated() { index.insert(key, slot: Int32(slot)) }
        for (slot, key) in keys.enumerated() {
            #expect(index.slot(of: key) { keys[Int($0)] } == Int32(slot))
        }
        #expect(index.slot(of: Colliding(name: 300, bucket: 1)) { keys[Int($0)] } == nil)
        #expect(index.slot(of: Colliding(name: 1, bucket: 7)) { keys[Int($0)] } == nil)
        #expect(SlotIndex().slot(of: keys[0]) { keys[Int($0)] } == nil)
    }
}
