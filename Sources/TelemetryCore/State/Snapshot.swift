/// Little-endian bytes for state snapshots: no Foundation, no reflection, a fixed layout that
/// a version number guards.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func int(_ v: Int) { i64(Int64(v)) }
    public mutating func double(_ v: Double) { u64(v.bitPattern) }
    public mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    public mutating func string(_ v: String) {
        int(v.utf8.count)
        bytes.append(contentsOf: v.utf8)
    }
}

public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var atEnd: Bool { position == bytes.count }

    public mutating func u8() throws(SnapshotError) -> UInt8 {
        guard position < bytes.count else { throw SnapshotError("snapshot ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u64() throws(SnapshotError) -> UInt64 {
        guard position + 8 <= bytes.count else { throw SnapshotError("snapshot ends early") }
        var value: UInt64 = 0
        for k in 0..<8 { value |= UInt64(bytes[position + k]) << (8 * UInt64(k)) }
        position += 8
        return value
    }

    public mutating func i64() throws(SnapshotError) -> Int64 { Int64(bitPattern: try u64()) }
    public mutating func int() throws(SnapshotError) -> Int { Int(try i64()) }
    public mutating func double() throws(SnapshotError) -> Double { Double(bitPattern: try u64()) }
    public mutating func bool() throws(SnapshotError) -> Bool { try u8() != 0 }

    /// A count that must be plausible: a corrupt length must not allocate gigabytes.
    public mutating func count(max: Int) throws(SnapshotError) -> Int {
        let n = try int()
        guard n >= 0 && n <= max else { throw SnapshotError("implausible count \(n) in snapshot") }
        return n
    }

    public mutating func string() throws(SnapshotError) -> String {
        let n = try count(max: 65536)
        guard position + n <= bytes.count else { throw SnapshotError("snapshot ends early") }
        defer { position += n }
        return String(decoding: bytes[position..<(position + n)], as: UTF8.self)
    }
}

public struct SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// FNV-1a, 64 bits: a checksum that notices a torn or corrupted snapshot.
public func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return hash
}

extension QuantileSketch {
    func encode(_ w: inout ByteWriter) {
        w.int(count)
        w.int(binCount)
        forEachBin { w.u64($0) }
    }

    init(decoding r: inout ByteReader) throws(SnapshotError) {
        self.init()
        let count = try r.int()
        let bins = try r.count(max: Self.maxBins + 1)
        var raw: [UInt64] = []
        for _ in 0..<bins { raw.append(try r.u64()) }
        restore(count: count, bins: raw)
    }
}

extension WindowStats {
    func encode(_ w: inout ByteWriter) {
        for v in snapshotFields.ints { w.int(v) }
        for v in snapshotFields.doubles { w.double(v) }
        w.i64(firstTime.milliseconds)
        w.i64(lastTime.milliseconds)
        w.u8(quarters)
        sketch.encode(&w)
    }

    init(decoding r: inout ByteReader) throws(SnapshotError) {
        var ints: [Int] = []
        for _ in 0..<Self.snapshotIntCount { ints.append(try r.int()) }
        var doubles: [Double] = []
        for _ in 0..<Self.snapshotDoubleCount { doubles.append(try r.double()) }
        let first = EventTime(milliseconds: try r.i64())
        let last = EventTime(milliseconds: try r.i64())
        let quarters = try r.u8()
        let sketch = try QuantileSketch(decoding: &r)
        self.init(snapshotInts: ints, doubles: doubles, first: first, last: last, quarters: quarters, sketch: sketch)
    }
}

extension SeriesState {
    /// The series' whole state (raw ring, windows, counts), for a snapshot.
    public func encode(_ w: inout ByteWriter) {
        w.int(raw.capacity)
        let entries = raw.readings
        w.int(entries.count)
        for e in entries {
            w.double(e.value)
            w.i64(e.time.milliseconds)
            w.i64(e.seq)
            w.u8(e.status == .ok ? 0 : e.status == .calibrating ? 1 : 2)
            w.bool(e.hasSeq)
        }
        w.int(windows.count)
        for ring in windows { ring.encode(&w) }
        w.bool(watermark != nil)
        w.i64(watermark?.milliseconds ?? 0)
        for outcome in Outcome.counted { w.int(counts[outcome]) }
        w.bool(lastCounterTimeForSnapshot != nil)
        w.i64(lastCounterTimeForSnapshot?.milliseconds ?? 0)
        seqs.encode(&w)
    }

    /// Restores a series saved by `encode`; its windows must match `specs` (a snapshot taken
    /// with other windows is refused, not misread).
    /// `version` is the snapshot's: version 1 has no seq memory (it starts empty).
    public init(decoding r: inout ByteReader, windows specs: [WindowSpec], settings: Settings, version: UInt8 = 3)
        throws(SnapshotError)
    {
        self.init(windows: specs, settings: settings)
        let capacity = try r.count(max: 1_000_000)
        let entries = try r.count(max: capacity)
        var ring = RawRing(capacity: max(1, settings.rawCapacity))
        for _ in 0..<entries {
            let value = try r.double()
            let time = EventTime(milliseconds: try r.i64())
            let seq = try r.i64()
            let status: ReadingStatus = try [ReadingStatus.ok, .calibrating, .error][Int(min(2, r.u8()))]
            let hasSeq = try r.bool()
            ring.append(Reading(value: value, time: time, status: status, seq: hasSeq ? seq : nil))
        }
        let windowCount = try r.count(max: 64)
        guard windowCount == specs.count else {
            throw SnapshotError("snapshot has \(windowCount) windows, configuration \(specs.count)")
        }
        var rings: [BucketRing] = []
        for (index, spec) in specs.enumerated() {
            rings.append(
                try BucketRing(
                    decoding: &r, spec: spec, quantiles: settings.keepsQuantiles(index),
                    detail: settings.keepsDetail(index), energy: settings.keepsEnergy(index), version: version))
        }
        let hasWatermark = try r.bool()
        let watermark = try r.i64()
        var counts = Counts()
        for outcome in Outcome.counted { counts[outcome] = try r.int() }
        let hasCounter = try r.bool()
        let counter = try r.i64()
        var seqs = SeqMemory()
        if version >= 2 {
            seqs = try SeqMemory(decoding: &r)
        } else {
            for e in ring.readings where e.hasSeq { seqs.record(seq: e.seq, time: e.time) }
        }
        restore(
            raw: ring, windows: rings, watermark: hasWatermark ? EventTime(milliseconds: watermark) : nil,
            counts: counts,
            lastCounterTime: hasCounter ? EventTime(milliseconds: counter) : nil, seqs: seqs)
    }
}

extension BucketRing {
    func encode(_ w: inout ByteWriter) {
        w.i64(spec.lengthMilliseconds)
        w.i64(spec.bucketMilliseconds)
        w.i64(spec.alignOffsetMilliseconds)
        forEachSlot { start, stats in
            w.i64(start)
            stats.encode(&w)
            w.double(stats.energy)
        }
    }

    init(
        decoding r: inout ByteReader, spec: WindowSpec, quantiles: Bool, detail: Bool, energy: Bool, version: UInt8
    ) throws(SnapshotError) {
        let length = try r.i64()
        let bucket = try r.i64()
        let offset = try r.i64()
        guard length == spec.lengthMilliseconds, bucket == spec.bucketMilliseconds,
            offset == spec.alignOffsetMilliseconds
        else {
            throw SnapshotError("window \(spec.name) changed since the snapshot")
        }
        self.init(spec: spec, quantiles: quantiles, detail: detail, energy: energy)
        for index in 0..<spec.bucketCount {
            let start = try r.i64()
            var stats = try WindowStats(decoding: &r)
            // Version 3 saves each bucket's energy sum; before, it is unknown (LAeq waits for new buckets).
            stats.energy = version >= 3 ? try r.double() : (stats.count > 0 ? .nan : 0)
            setSlot(index, start: start, stats: stats)
        }
    }
}
