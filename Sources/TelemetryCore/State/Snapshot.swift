/// Little-endian bytes for state snapshots: no Foundation, no reflection, a fixed layout that
/// a version number guards.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    /// Bytes written since the start or the last `reset`.
    public var count: Int { bytes.count }
    /// Starts again, keeping the storage (a streamed snapshot reuses one buffer).
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func int(_ v: Int) { i64(Int64(v)) }
    public mutating func double(_ v: Double) { u64(v.bitPattern) }
    public mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    /// Overwrites the 8 bytes at `offset` (written as a placeholder) with `v`.
    public mutating func setInt(_ v: Int, at offset: Int) {
        withUnsafeBytes(of: Int64(v).littleEndian) { bytes.replaceSubrange(offset..<(offset + 8), with: $0) }
    }
    public mutating func string(_ v: String) {
        int(v.utf8.count)
        bytes.append(contentsOf: v.utf8)
    }
}

public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    private var position = 0
    /// Where reading stops: a snapshot's body is read in place, its checksum trailer left out.
    private let end: Int

    public init(_ bytes: [UInt8]) { self.init(bytes, end: bytes.count) }
    public init(_ bytes: [UInt8], from start: Int = 0, end: Int) {
        self.bytes = bytes
        self.end = min(max(0, end), bytes.count)
        position = min(max(0, start), self.end)
    }

    public var atEnd: Bool { position == end }
    /// Where the next read starts.
    public var offset: Int { position }

    public mutating func u8() throws(SnapshotError) -> UInt8 {
        guard position < end else { throw .endsEarly }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u32() throws(SnapshotError) -> UInt32 { try littleEndian() }
    public mutating func u64() throws(SnapshotError) -> UInt64 { try littleEndian() }

    private mutating func littleEndian<T: FixedWidthInteger & UnsignedInteger>() throws(SnapshotError) -> T {
        let size = MemoryLayout<T>.size
        guard position + size <= end else { throw .endsEarly }
        var value: T = 0
        for k in 0..<size { value |= T(bytes[position + k]) << (8 * k) }
        position += size
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
        guard position + n <= end else { throw .endsEarly }
        defer { position += n }
        return String(decoding: bytes[position..<(position + n)], as: UTF8.self)
    }
}

public struct SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
    /// A read past the bytes at hand: the end of the file, or of the piece of it read so far.
    public static let endsEarly = SnapshotError("snapshot ends early")
    public static let checksumMismatch = SnapshotError("checksum mismatch (torn or corrupted)")
}

/// FNV-1a, 64 bits: a checksum that notices a torn or corrupted snapshot.
public func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash = FNV1a64()
    bytes.withUnsafeBytes { hash.add($0) }
    return hash.value
}

/// FNV-1a over bytes that come in pieces (a snapshot written as it is encoded).
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var hash = value
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        value = hash
    }
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
        encodeFields(&w)
        w.i64(firstTime.milliseconds)
        w.i64(lastTime.milliseconds)
        w.u8(quarters)
        sketch.encode(&w)
    }

    /// Nothing in it: no reading of any status, no energy. Version 4 saves such a bucket as a flag.
    var isBlank: Bool {
        count == 0 && calibrating == 0 && errors == 0 && invalid == 0 && quarters == 0 && resets == 0
            && increase == 0 && energy == 0
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
    public init(
        decoding r: inout ByteReader, windows specs: [WindowSpec], settings: Settings,
        version: UInt8 = SeriesState.snapshotVersion
    )
        throws(SnapshotError)
    {
        try self.init(decoding: &r, windows: specs, shared: SharedSettings(settings), version: version)
    }

    /// As `init(decoding:windows:settings:version:)`, with settings shared by its kind's series.
    public init(
        decoding r: inout ByteReader, windows specs: [WindowSpec], shared: SharedSettings,
        version: UInt8 = SeriesState.snapshotVersion
    )
        throws(SnapshotError)
    {
        self.init(windows: specs, shared: shared)
        let settings = shared.value
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

extension SeriesState {
    /// The layout `encode` writes. Version 4 saves only the buckets that were ever used, and
    /// a used but blank one as a flag: at 100 000 series of a few readings each, version 3
    /// wrote 711 MB a minute, nearly all of it empty buckets.
    public static let snapshotVersion: UInt8 = 4
}

extension BucketRing {
    func encode(_ w: inout ByteWriter) {
        w.i64(spec.lengthMilliseconds)
        w.i64(spec.bucketMilliseconds)
        w.i64(spec.alignOffsetMilliseconds)
        let mark = w.count
        w.int(0)  // how many slots follow, set below
        var index: UInt32 = 0
        var written = 0
        forEachSlot { start, stats in
            defer { index += 1 }
            let blank = stats.isBlank
            guard start != .min || !blank else { return }  // never used: the decoder's default
            w.u32(index)
            w.i64(start)
            w.bool(!blank)
            if !blank {
                stats.encode(&w)
                w.double(stats.energy)
            }
            written += 1
        }
        w.setInt(written, at: mark)
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
        if version >= 4 {
            let slots = try r.count(max: spec.bucketCount)
            var previous = -1
            for _ in 0..<slots {
                let index = Int(try r.u32())
                guard index < spec.bucketCount, index > previous else {
                    throw SnapshotError("bucket \(index) of window \(spec.name) out of its place")
                }
                previous = index
                let start = try r.i64()
                guard start == .min || places(start: start, at: index) else {
                    throw SnapshotError("bucket \(index) of window \(spec.name) starts off its grid")
                }
                var stats = WindowStats()
                if try r.bool() {
                    stats = try WindowStats(decoding: &r)
                    stats.energy = try r.double()
                }
                setSlot(index, start: start, stats: stats)
            }
            return
        }
        for index in 0..<spec.bucketCount {
            let start = try r.i64()
            var stats = try WindowStats(decoding: &r)
            // Version 3 saves each bucket's energy sum; before, it is unknown (LAeq waits for new buckets).
            stats.energy = version >= 3 ? try r.double() : (stats.count > 0 ? .nan : 0)
            setSlot(index, start: start, stats: stats)
        }
    }
}
