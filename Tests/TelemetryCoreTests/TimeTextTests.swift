import Testing

@testable import TelemetryCore

@Suite("Durations and UTC offsets as text")
struct TimeTextTests {
    @Test(
        "durations",
        arguments: [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 604_800), ("90", 90), (" 2m ", 120)])
    func durations(text: String, seconds: Double) {
        #expect(TimeText.seconds(text) == seconds)
        #expect(TimeText.seconds(TimeText.format(seconds)) == seconds)
    }

    @Test("not durations", arguments: ["soon", "5x", "m", "", "1e999s"])
    func refused(text: String) {
        #expect(TimeText.seconds(text) == nil)
    }

    @Test("offsets read and write back")
    func offsets() {
        #expect(TimeText.utcOffsetMinutes("+07:00") == 420)
        #expect(TimeText.utcOffsetMinutes("UTC+7") == 420)
        #expect(TimeText.utcOffsetMinutes("-05:30") == -330)
        #expect(TimeText.utcOffsetMinutes("Z") == 0)
        #expect(TimeText.utcOffsetMinutes("Asia/Ho_Chi_Minh") == nil)
        #expect(TimeText.utcOffsetMinutes("+15:00") == nil)
        for minutes in stride(from: -720, through: 840, by: 15) {
            #expect(TimeText.utcOffsetMinutes(TimeText.offsetText(minutes)) == minutes)
        }
    }
}
