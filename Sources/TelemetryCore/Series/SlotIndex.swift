/// Key → slot (a dense index) for a table that already keeps each key at its slot: the index
/// holds 8 bytes per cell and no keys, and asks the owner for the key at a slot to confirm a
/// match. A `[SeriesID: Int32]` keeps the 72-byte key beside each value at a load under 3/4:
/// about 20 MiB at 100 000 series, and 30 while it doubles. This holds 2 MiB at a load under
/// 1/2 (open addressing, linear probing).
///
/// Positions come from `hashValue`, which the standard library seeds per process, so a sender
/// cannot pick names that collide. Removal is by rebuilding (`init(count:keyAt:)`), which is
/// how its owners compact after an eviction anyway.
public struct SlotIndex: Sendable {
    /// 0 when empty; else the low 32 bits of the key's hash, shifted up 32, and slot + 1.
    @usableFromInline var cells: [UInt64] = []
    public private(set) var count = 0

    public init() {}

    /// Slots `0..<count`, holding the keys `keyAt` gives (distinct).
    public init<Key: Hashable>(count: Int, keyAt: (Int32) -> Key) {
        reserve(count)
        for slot in 0..<Int32(count) { insert(keyAt(slot), slot: slot) }
    }

    /// The slot holding `key`; `keyAt` gives the key at a candidate slot.
    @inlinable
    public func slot<Key: Hashable>(of key: Key, keyAt: (Int32) -> Key) -> Int32? {
        slot(hash: Self.hash(key)) { keyAt($0) == key }
    }

    /// The slot whose cell holds `hash` and that `matches`: for keys kept as bytes (topics),
    /// hashed by the owner with a seeded `Hasher` as `hashValue` would be.
    @inlinable
    public func slot(hash: UInt32, matches: (Int32) -> Bool) -> Int32? {
        guard !cells.isEmpty else { return nil }
        let mask = cells.count - 1
        var i = Int(hash) & mask
        while true {
            let cell = cells[i]
            if cell == 0 { return nil }
            if UInt32(truncatingIfNeeded: cell >> 32) == hash {
                let slot = Int32(truncatingIfNeeded: cell & 0xffff_ffff) - 1
                if matches(slot) { return slot }
            }
            i = (i + 1) & mask
        }
    }

    /// Files `key` at `slot`; the caller has checked that the key is not there yet.
    public mutating func insert<Key: Hashable>(_ key: Key, slot: Int32) {
        insert(hash: Self.hash(key), slot: slot)
    }

    /// Files a key of hash `hash` (as `slot(hash:matches:)` looks it up) at `slot`.
    public mutating func insert(hash: UInt32, slot: Int32) {
        precondition(slot >= 0 && slot < Int32.max, "slot out of range")
        reserve(count + 1)
        place(UInt64(hash) << 32 | UInt64(slot + 1))
        count += 1
    }

    @usableFromInline
    static func hash<Key: Hashable>(_ key: Key) -> UInt32 { UInt32(truncatingIfNeeded: key.hashValue) }

    /// Room for `wanted` keys at a load of at most 1/2; a doubling re-places the cells from
    /// the hashes they keep, without asking for a key.
    private mutating func reserve(_ wanted: Int) {
        guard wanted * 2 > cells.count else { return }
        var size = Swift.max(16, cells.count)
        while wanted * 2 > size { size *= 2 }
        let old = cells
        cells = Array(repeating: 0, count: size)
        for cell in old where cell != 0 { place(cell) }
    }

    private mutating func place(_ cell: UInt64) {
        let mask = cells.count - 1
        var i = Int(UInt32(truncatingIfNeeded: cell >> 32)) & mask
        while cells[i] != 0 { i = (i + 1) & mask }
        cells[i] = cell
    }
}
