/// Event-time sanity: a reading's time is compared with the clock it arrived by (the wall
/// clock in `parkd run`, the feed line's `t` in `parkd replay`). A sensor whose clock runs
/// ahead would otherwise move its series' event-time clock into the future and make every
/// later reading late; one stamped decades ago would open a series "silent for a century".
public struct TimeAdmission: Sendable, Equatable {
    /// How far ahead of its arrival a reading's time may be.
    public var maxAheadMilliseconds: Int64
    /// How far behind its arrival a reading's time may be.
    public var maxAgeMilliseconds: Int64

    public init(maxAheadMilliseconds: Int64 = 5 * 60_000, maxAgeMilliseconds: Int64 = 7 * 86_400_000) {
        self.maxAheadMilliseconds = maxAheadMilliseconds
        self.maxAgeMilliseconds = maxAgeMilliseconds
    }

    /// `.futureTime` or `.tooOld` when the reading is refused, nil when its time is plausible.
    /// Both times are representable (decoders check), so the differences cannot overflow.
    public func check(_ time: EventTime, arrival: EventTime) -> SeriesState.Outcome? {
        let ahead = time.milliseconds - arrival.milliseconds
        if ahead > maxAheadMilliseconds { return .futureTime }
        if -ahead > maxAgeMilliseconds { return .tooOld }
        return nil
    }
}
