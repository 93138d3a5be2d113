import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// The runtime's only source of "now"; TelemetryCore is handed times, never reads a clock.
public enum WallClock {
    public static func now() -> EventTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return EventTime(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    /// The next multiple of `interval` in the park's local time, strictly after `time`.
    public static func nextBoundary(after time: EventTime, intervalSeconds: Double, utcOffsetMinutes: Int) -> EventTime
    {
        LocalCalendar(utcOffsetMinutes: utcOffsetMinutes).nextBoundary(
            after: time, step: Int64(intervalSeconds * 1000))
    }
}
