/// A rolling window kept as a ring of `length / bucket` time buckets. At any event time the
/// window holds the current bucket and the ones before it: between `length - bucket` and
/// `length` of history, aligned to bucket boundaries (in UTC plus `alignOffset`).
///
/// Every series keeps a copy of each window's spec in its rings, so the fields live in one
/// shared, immutable box: a copy is 8 bytes, not 40 (16 MiB at 100 000 series of 5 windows).
public struct WindowSpec: Sendable, Hashable, CustomStringConvertible {
    private final class Fields: Sendable {
        let name: String
        let lengthMilliseconds: Int64
        let bucketMilliseconds: Int64
        let alignOffsetMilliseconds: Int64

        init(name: String, lengthMilliseconds: Int64, bucketMilliseconds: Int64, alignOffsetMilliseconds: Int64) {
            self.name = name
            self.lengthMilliseconds = lengthMilliseconds
            self.bucketMilliseconds = bucketMilliseconds
            self.alignOffsetMilliseconds = alignOffsetMilliseconds
        }
    }

    private var fields: Fields

    public var name: String { fields.name }
    public var lengthMilliseconds: Int64 { fields.lengthMilliseconds }
    public var bucketMilliseconds: Int64 { fields.bucketMilliseconds }
    /// Shifts bucket boundaries, e.g. +7 h so that daily buckets start at local midnight.
    public var alignOffsetMilliseconds: Int64 { fields.alignOffsetMilliseconds }

    public static func == (a: WindowSpec, b: WindowSpec) -> Bool {
        a.fields === b.fields
            || (a.name, a.lengthMilliseconds, a.bucketMilliseconds, a.alignOffsetMilliseconds)
                == (b.name, b.lengthMilliseconds, b.bucketMilliseconds, b.alignOffsetMilliseconds)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(lengthMilliseconds)
        hasher.combine(bucketMilliseconds)
        hasher.combine(alignOffsetMilliseconds)
    }

    public init(name: String, length: Int64, bucket: Int64, alignOffset: Int64 = 0) throws(WindowSpecError) {
        guard bucket > 0, length >= bucket else {
            throw WindowSpecError("window \(name): bucket must be positive and no longer than the window")
        }
        guard length % bucket == 0 else {
            throw WindowSpecError("window \(name): length must be a whole number of buckets")
        }
        guard length / bucket <= 1440 else { throw WindowSpecError("window \(name): at most 1440 buckets") }
        // Buckets keep times as 32-bit milliseconds after their start.
        guard bucket <= Int64(Int32.max) else { throw WindowSpecError("window \(name): buckets of at most 24 days") }
        fields = Fields(
            name: name, lengthMilliseconds: length, bucketMilliseconds: bucket, alignOffsetMilliseconds: alignOffset)
    }

    /// The same spec in a box of its own (for a thread that should not share its references).
    public var unshared: WindowSpec {
        var copy = self
        copy.fields = Fields(
            name: name, lengthMilliseconds: lengthMilliseconds, bucketMilliseconds: bucketMilliseconds,
            alignOffsetMilliseconds: alignOffsetMilliseconds)
        return copy
    }

    public var bucketCount: Int { Int(lengthMilliseconds / bucketMilliseconds) }

    /// Start of the bucket that holds `time`.
    public func bucketStart(_ time: EventTime) -> Int64 {
        LocalCalendar.floorDivide(time.milliseconds + alignOffsetMilliseconds, bucketMilliseconds)
            * bucketMilliseconds - alignOffsetMilliseconds
    }

    public var description: String { name }

    private static let minute: Int64 = 60_000

    /// 1 m (4 × 15 s), 15 m (3 × 5 m), 1 h (4 × 15 min: the quarter hours of hourly validity),
    /// 24 h (24 × 1 h: the hours of daily validity), aligned to the park's local time.
    public static func defaults(utcOffsetMinutes: Int = LocalCalendar.defaultOffsetMinutes) -> [WindowSpec] {
        let offset = Int64(utcOffsetMinutes) * minute
        return [
            try! WindowSpec(name: "1m", length: minute, bucket: 15_000, alignOffset: offset),
            try! WindowSpec(name: "15m", length: 15 * minute, bucket: 5 * minute, alignOffset: offset),
            try! WindowSpec(name: "1h", length: 60 * minute, bucket: 15 * minute, alignOffset: offset),
            try! WindowSpec(name: "24h", length: 1440 * minute, bucket: 60 * minute, alignOffset: offset),
        ]
    }
}

public struct WindowSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
