/// Event time in whole milliseconds since the Unix epoch: exact arithmetic for windows and
/// byte-identical replays, with more precision than sensors report.
public struct EventTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public init(seconds: Double) { self.milliseconds = Int64((seconds * 1000).rounded()) }

    /// The instants parkd represents: RFC 3339's years 0001 to 9999. Every time read from the
    /// wire is checked against it, so that the difference of any two times fits in an `Int64`.
    public static let representable: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// A time from untrusted milliseconds, or nil outside `representable`.
    public init?(checkedMilliseconds value: Int64) {
        guard Self.representable.contains(value) else { return nil }
        milliseconds = value
    }

    /// A time from untrusted seconds (not finite, or outside `representable`: nil).
    public init?(checkedSeconds value: Double) {
        let ms = (value * 1000).rounded()
        guard ms.isFinite, ms >= Double(Self.representable.lowerBound), ms <= Double(Self.representable.upperBound)
        else { return nil }
        milliseconds = Int64(ms)
    }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public static func < (a: EventTime, b: EventTime) -> Bool { a.milliseconds < b.milliseconds }

    public var description: String { RFC3339.format(self, offsetMinutes: 0) }
}

/// What the sensor says of its own state (Circular 10/2021: measuring, calibrating, error).
public enum ReadingStatus: String, Sendable, Hashable, Codable {
    case ok
    case calibrating
    case error
}

/// One measurement, decoded from a payload.
public struct Reading: Sendable, Hashable {
    public var value: Double
    public var time: EventTime
    public var unit: String?
    public var status: ReadingStatus
    /// The sensor's own sequence number, when it sends one, to count loss and reordering.
    public var seq: Int64?
    /// The measurement's name inside the payload (e.g. `pm25` in an object holding several).
    public var field: String?
    /// The payload gave the time; false when the reading took its arrival time (a retained
    /// message without a time of its own says nothing about when it was measured).
    public var timed: Bool

    public init(
        value: Double, time: EventTime, unit: String? = nil, status: ReadingStatus = .ok, seq: Int64? = nil,
        field: String? = nil, timed: Bool = true
    ) {
        self.timed = timed
        self.value = value
        self.time = time
        self.unit = unit
        self.status = status
        self.seq = seq
        self.field = field
    }
}
