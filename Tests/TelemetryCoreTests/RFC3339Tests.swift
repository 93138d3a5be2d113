import Testing

@testable import TelemetryCore

@Suite("RFC 3339 time")
struct RFC3339Tests {
    @Test(
        "fixed instants",
        arguments: [
            ("1970-01-01T00:00:00Z", Int64(0)),
            ("2026-01-01T00:00:00Z", Int64(1_767_225_600_000)),
            ("2026-01-01T07:00:00+07:00", Int64(1_767_225_600_000)),
            ("2025-12-31T19:00:00-05:00", Int64(1_767_225_600_000)),
            ("2024-02-29T12:30:15.250Z", Int64(1_709_209_815_250)),
            ("2026-11-23t10:15:00.5z", Int64(1_795_428_900_500)),  // checked with date(1)
            ("2026-11-23 10:15:00.123456Z", Int64(1_795_428_900_123)),
            ("2026-11-23T10:15:00+07:00", Int64(1_795_403_700_000)),
        ])
    func known(text: String, milliseconds: Int64) {
        #expect(RFC3339.parse(Array(text.utf8))?.milliseconds == milliseconds)
    }

    @Test(
        "malformed times are refused",
        arguments: [
            "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+0700", "2026-01-01", "yesterday", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk",
        ])
    func refused(text: String) {
        #expect(RFC3339.parse(Array(text.utf8)) == nil)
    }

    @Test("format then parse gives the same instant, at any offset")
    func roundTrip() {
        var random = SeededRandom(seed: 3339)
        for _ in 0..<2_000 {
            let time = EventTime(milliseconds: Int64.random(in: 0..<4_102_444_800_000, using: &random))
            let offset = Int.random(in: -12 * 60...14 * 60, using: &random)
            let text = RFC3339.format(time, offsetMinutes: offset)
            #expect(RFC3339.parse(Array(text.utf8)) == time, "\(text)")
        }
    }

    @Test("formats in the park's local time")
    func localFormat() {
        let time = EventTime(milliseconds: 1_767_225_600_000)
        #expect(RFC3339.format(time, offsetMinutes: 420) == "2026-01-01T07:00:00.000+07:00")
        #expect(RFC3339.format(time, offsetMinutes: 0) == "2026-01-01T00:00:00.000Z")
        #expect(RFC3339.format(EventTime(milliseconds: -1), offsetMinutes: 0) == "1969-12-31T23:59:59.999Z")
    }
}
