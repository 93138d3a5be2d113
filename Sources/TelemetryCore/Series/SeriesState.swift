#if canImport(Glibc)
    import Glibc
#endif

/// Whether a kind's value is a level (gauge) or a running total (counter, e.g. kWh meters).
public enum MeasureShape: String, Sendable, Hashable {
    case gauge
    case counter
}

/// Where readings of one series go: a raw ring and one bucket ring per window. The buckets
/// are allocated up front; the raw ring grows to its capacity (16) with the first readings, so
/// a series costs the same however many readings it receives after those.
public struct SeriesState: Sendable {
    public struct Settings: Sendable, Equatable {
        public var shape: MeasureShape = .gauge
        /// Values outside are invalid: counted, never in the figures.
        public var range: ClosedRange<Double>? = nil

        /// Outside `range`: invalid whatever else holds.
        public func isOutOfRange(_ value: Double) -> Bool { range.map { !$0.contains(value) } ?? false }

        /// A measurement the figures may take: in range and reported as measuring. What a
        /// reading the windows call late still is to a regulatory period with its own lateness.
        public func admits(_ reading: Reading) -> Bool { reading.status == .ok && !isOutOfRange(reading.value) }
        /// Readings older than the newest seen minus this are late: counted and dropped.
        public var allowedLatenessMilliseconds: Int64 = 5 * 60_000
        public var rawCapacity = 16
        /// Bit i set: window i keeps quantile sketches (something reads its p50/p95/p99).
        public var quantileWindows: UInt64 = .max
        public init() {}

        /// Bit i set: window i keeps full detail (extremes, spread, ends, increase); clear: a
        /// lean window of count, sum and mean, 32 bytes a bucket instead of 104.
        public var detailWindows: UInt64 = .max
        /// A decibel series (noise): the windows in `energyWindows` keep energy sums, for LAeq.
        public var decibels = false
        /// Bit i set: window i keeps energy sums if the series is in decibels (a rule reads its `leq`).
        public var energyWindows: UInt64 = .max
        func keepsEnergy(_ window: Int) -> Bool {
            decibels && (window >= 64 || energyWindows & (1 << UInt64(window)) != 0)
        }

        func keepsQuantiles(_ window: Int) -> Bool { window >= 64 || quantileWindows & (1 << UInt64(window)) != 0 }
        func keepsDetail(_ window: Int) -> Bool {
            window >= 64 || shape == .counter || detailWindows & (1 << UInt64(window)) != 0
        }
    }

    /// What became of one reading.
    public enum Outcome: String, Sendable, Equatable, CaseIterable {
        case accepted
        case late
        case duplicate
        /// A counter reading older than the counter's newest: its increase cannot be placed.
        case outOfOrder = "out_of_order"
        case invalid
        case calibrating
        case error
        /// Refused before the series (`TimeAdmission`): the time is too far ahead of arrival.
        case futureTime = "future_time"
        /// Refused before the series: the time is too far behind arrival.
        case tooOld = "too_old"
        /// A retained message's reading without a time of its own: it says nothing about now.
        case retained

        /// What a series counts itself (and saves in snapshots); the rest are decided before it.
        public static let counted: [Outcome] = [
            .accepted, .late, .duplicate, .outOfOrder, .invalid, .calibrating, .error,
        ]
    }

    public struct Counts: Sendable, Equatable {
        public var accepted = 0
        public var late = 0
        public var duplicate = 0
        public var outOfOrder = 0
        public var invalid = 0
        public var calibrating = 0
        public var error = 0
        public var futureTime = 0
        public var tooOld = 0
        public var retained = 0

        public init() {}

        public subscript(outcome: Outcome) -> Int {
            get {
                switch outcome {
                case .accepted: accepted
                case .late: late
                case .duplicate: duplicate
                case .outOfOrder: outOfOrder
                case .invalid: invalid
                case .calibrating: calibrating
                case .error: error
                case .futureTime: futureTime
                case .tooOld: tooOld
                case .retained: retained
                }
            }
            set {
                switch outcome {
                case .accepted: accepted = newValue
                case .late: late = newValue
                case .duplicate: duplicate = newValue
                case .outOfOrder: outOfOrder = newValue
                case .invalid: invalid = newValue
                case .calibrating: calibrating = newValue
                case .error: error = newValue
                case .futureTime: futureTime = newValue
                case .tooOld: tooOld = newValue
                case .retained: retained = newValue
                }
            }
        }

        public var total: Int {
            accepted + late + duplicate + outOfOrder + invalid + calibrating + error + futureTime + tooOld + retained
        }

        public mutating func add(_ other: Counts) {
            for outcome in Outcome.allCases { self[outcome] += other[outcome] }
        }

        /// What was counted since `earlier`, a copy of these counts taken before.
        public func since(_ earlier: Counts) -> Counts {
            var result = self
            for outcome in Outcome.allCases { result[outcome] -= earlier[outcome] }
            return result
        }
    }

    /// One kind's settings, which all its series share: a series holds 8 bytes of them, not 80
    /// (10 MiB at 100 000 series).
    public final class SharedSettings: Sendable {
        public let value: Settings
        public init(_ value: Settings) { self.value = value }
    }

    // Inlinable: read from a table's element in another module, a call would copy the
    // whole state (its buffers retained) to read one field.
    @usableFromInline let shared: SharedSettings
    @inlinable public var settings: Settings { shared.value }
    /// The box this series shares with the others of its kind.
    @inlinable public var sharedSettings: SharedSettings { shared }
    public private(set) var raw: RawRing
    /// One ring per configured window, in order; a window that shares another's buckets
    /// (`BucketRing.owner`) holds none: read windows through `window(_:)`.
    private var rings: [BucketRing]
    /// The newest event time seen (the series' event-time clock).
    public private(set) var watermark: EventTime?
    public private(set) var counts = Counts()
    private var lastCounterTime: EventTime?
    /// The seqs taken lately, beyond the raw ring: redelivered backlogs are recognised.
    public private(set) var seqs = SeqMemory()

    public init(windows specs: [WindowSpec], settings: Settings = Settings()) {
        self.init(windows: specs, shared: SharedSettings(settings))
    }

    public init(windows specs: [WindowSpec], shared: SharedSettings) {
        self.shared = shared
        let settings = shared.value
        raw = RawRing(capacity: settings.rawCapacity)
        let owners = Self.owners(specs, settings)
        var rings: [BucketRing] = []
        rings.reserveCapacity(specs.count)
        for (index, spec) in specs.enumerated() {
            let ring = BucketRing(
                spec: spec, quantiles: settings.keepsQuantiles(index), detail: settings.keepsDetail(index),
                energy: settings.keepsEnergy(index))
            // A shared window keeps only its spec: its flags equal its owner's by construction.
            rings.append(owners[index] < 0 ? ring : BucketRing(spec: spec, sharing: owners[index], of: ring))
        }
        self.rings = rings
        sketching = rings.contains { $0.keepsQuantiles }
    }

    /// For each window, the window whose ring holds its buckets, or -1 for itself: the
    /// longest window of the same bucket size and alignment that keeps the same detail,
    /// quantiles and energy (the first such, on a tie). Its newest buckets are exactly what
    /// the shorter window's own ring would hold, so every figure read is the same.
    static func owners(_ specs: [WindowSpec], _ settings: Settings) -> [Int] {
        func key(_ i: Int) -> (Int64, Int64, Bool, Bool, Bool) {
            (
                specs[i].bucketMilliseconds, specs[i].alignOffsetMilliseconds, settings.keepsQuantiles(i),
                settings.keepsDetail(i), settings.keepsEnergy(i)
            )
        }
        return specs.indices.map { i in
            var best = i
            for j in specs.indices where j != i && key(j) == key(i) {
                if specs[j].lengthMilliseconds > specs[best].lengthMilliseconds
                    || (specs[j].lengthMilliseconds == specs[best].lengthMilliseconds && j < best)
                {
                    best = j
                }
            }
            return best == i || best > Int(Int16.max) ? -1 : best
        }
    }

    /// Window `index` (in configuration order) as a ring to read.
    public func window(_ index: Int) -> BucketRing {
        let ring = rings[index]
        return ring.owner < 0 ? ring : rings[Int(ring.owner)].view(as: ring.spec, owner: Int(ring.owner))
    }

    /// `body` reads window `index` in place (a ring of its own is not copied; a shared one is
    /// read through its owner's view).
    public func withWindow<T>(_ index: Int, _ body: (borrowing BucketRing) -> T) -> T {
        rings.withUnsafeBufferPointer { rings in
            let owner = Int(rings[index].owner)
            return owner < 0 ? body(rings[index]) : body(rings[owner].view(as: rings[index].spec, owner: owner))
        }
    }

    /// As `withWindow(_:_:)`, for the rule engine after every reading: a ring of its own is lent
    /// in place (`inout`, never written); lent as `borrowing`, it was copied (its buffers
    /// retained) for each call, the profile showed. A shared window is read through its
    /// owner's view, as there.
    mutating func withWindowInPlace<T>(_ index: Int, _ body: (inout BucketRing) -> T) -> T {
        let owner = Int(rings[index].owner)
        guard owner < 0 else {
            var view = rings[owner].view(as: rings[index].spec, owner: owner)
            return body(&view)
        }
        return rings.withUnsafeMutableBufferPointer { body(&$0[index]) }
    }

    /// Window `index`'s spec (a shared window keeps its own).
    func windowSpec(_ index: Int) -> WindowSpec { rings[index].spec }

    /// Every window, in configuration order, as rings to read.
    public var windows: [BucketRing] { rings.indices.map(window) }

    /// Some window keeps sketches: the value's bin is computed once for all of them.
    private let sketching: Bool

    @discardableResult
    public mutating func add(_ reading: Reading) -> Outcome {
        if let watermark, watermark.milliseconds - reading.time.milliseconds > settings.allowedLatenessMilliseconds {
            counts.late += 1
            return .late
        }
        if raw.holds(reading) || reading.seq.map({ seqs.repeats(seq: $0, time: reading.time) }) == true {
            counts.duplicate += 1
            return .duplicate
        }
        raw.append(reading)
        if let seq = reading.seq { seqs.record(seq: seq, time: reading.time) }
        if watermark.map({ reading.time > $0 }) ?? true { watermark = reading.time }
        let outOfRange = settings.isOutOfRange(reading.value)
        if outOfRange || reading.status != .ok {
            for index in rings.indices where rings[index].owner < 0 {
                rings[index].count(reading.status, invalid: outOfRange, at: reading.time)
            }
            if outOfRange {
                counts.invalid += 1
                return .invalid
            }
            if reading.status == .calibrating {
                counts.calibrating += 1
                return .calibrating
            }
            counts.error += 1
            return .error
        }
        if settings.shape == .counter {
            if let last = lastCounterTime, reading.time < last {
                counts.outOfOrder += 1
                return .outOfOrder
            }
            lastCounterTime = reading.time
        }
        let key = sketching ? QuantileSketch.key(reading.value) : 0
        // A decibel reading's energy, once for all the rings that sum it.
        let energy = settings.decibels ? pow(10, reading.value / 10) : 0
        // One uniqueness check for the array, not one per window.
        rings.withUnsafeMutableBufferPointer { rings in
            for index in rings.indices where rings[index].owner < 0 {
                rings[index].add(reading.value, key: key, energy: energy, at: reading.time)
            }
        }
        counts.accepted += 1
        return .accepted
    }

    var lastCounterTimeForSnapshot: EventTime? { lastCounterTime }

    mutating func restore(
        raw: RawRing, windows: [BucketRing], watermark: EventTime?, counts: Counts, lastCounterTime: EventTime?,
        seqs: SeqMemory
    ) {
        self.seqs = seqs
        self.raw = raw
        // Decoded windows hold their own buckets; a shared one's come from its owner's.
        self.rings = windows.indices.map { i in
            let owner = Int(rings[i].owner)
            return owner < 0 ? windows[i] : BucketRing(spec: windows[i].spec, sharing: owner, of: windows[owner])
        }
        self.watermark = watermark
        self.counts = counts
        self.lastCounterTime = lastCounterTime
    }

    /// A window's statistics as of `time` (by default the series' newest event time). At the
    /// newest time or later every window reads as a ring of its own would; before it, a window
    /// that shares a longer one's buckets may still show buckets its own ring would have reused.
    public func stats(window name: String, at time: EventTime? = nil) -> WindowStats? {
        guard let index = rings.firstIndex(where: { $0.spec.name == name }), let at = time ?? watermark else {
            return nil
        }
        return window(index).stats(at: at)
    }

    /// Bytes held per series, for the memory budget.
    public var memoryBytes: Int {
        rings.reduce(0) { $0 + $1.memoryBytes } + settings.rawCapacity * 24 + 128
            + Int(SeqMemory.span / 8) + 64
    }
}
