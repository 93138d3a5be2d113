import Foundation
import Logging
import TelemetryCore
import Testing

@testable import ParkDaemon

@Suite("Ingest pipeline")
struct IngestPipelineTests {
    func pipeline(maxSeries: Int = 1000, maxPayload: Int = 1024) throws -> IngestPipeline {
        IngestPipeline(
            router: TopicRouter([try TopicPattern(TopicPattern.defaultPattern)]),
            decoder: JSONReadingDecoder(),
            limits: .init(maxPayloadBytes: maxPayload, maxSeries: maxSeries),
            logger: Logger(label: "test"))
    }

    let now = EventTime(milliseconds: 1_795_400_000_000)

    func ingest(_ p: IngestPipeline, _ topic: String, _ payload: String) {
        p.ingest(topic: topic, payload: Array(payload.utf8), arrival: now)
    }

    @Test("readings are counted per series; bad input is counted by reason and changes nothing else")
    func counts() throws {
        let p = try pipeline()
        for i in 0..<10 { ingest(p, "parks/a/z1/energy/power/m1", #"{"value": \#(i)}"#) }
        for i in 0..<5 { ingest(p, "parks/a/z1/emissions/pm25/s1", #"{"value": \#(i), "ts": 1795400000}"#) }
        ingest(p, "parks/a/z1/energy/power/m1", "garbage")
        ingest(p, "parks/a/z1/energy/power/m1", #"{"ts": 1}"#)
        ingest(p, "parks/a/z1/energy/power/m1", "")
        ingest(p, "parks/a/z1/energy/power", #"{"value": 1}"#)
        ingest(p, "parks/a/z1/water/power/m1", #"{"value": 1}"#)
        ingest(p, "parks/a/z1/energy/power/m1", #"{"value": 1, "pad": "\#(String(repeating: "x", count: 2000))"}"#)
        let snapshot = p.takeInterval()
        #expect(snapshot.counters.messages == 21)
        #expect(snapshot.counters.readings == 15)
        #expect(
            snapshot.counters.rejected == [.malformed: 1, .missingField: 1, .empty: 1, .unknownTopic: 2, .tooLarge: 1])
        #expect(snapshot.series.count == 2)
        let power = try #require(snapshot.series.first { $0.id.kind == "power" })
        #expect(power.interval.readings == 10)
        #expect(power.interval.last == 9)
        #expect(power.interval.lastTime == now)
        // The next interval starts empty; totals keep everything.
        #expect(p.takeInterval().counters == IngestCounters())
        #expect(p.totals.messages == 21)
    }

    @Test("past the series limit new series are refused and counted; existing ones keep working")
    func seriesLimit() throws {
        let p = try pipeline(maxSeries: 3)
        for s in 0..<10 { ingest(p, "parks/a/z/energy/power/m\(s)", #"{"value": 1}"#) }
        for s in 0..<10 { ingest(p, "parks/a/z/energy/power/m\(s)", #"{"value": 2}"#) }
        let snapshot = p.takeInterval()
        #expect(p.seriesCount == 3)
        #expect(snapshot.counters.readings == 6)
        #expect(snapshot.counters.rejected[.seriesLimit] == 14)
        #expect(snapshot.series.allSatisfy { $0.interval.readings == 2 })
    }

    @Test("counts are exact under random traffic (property)")
    func randomTraffic() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let p = try pipeline()
            var expected: [String: Int] = [:]
            var bad = 0
            let count = Int.random(in: 1..<500, using: &generator)
            for _ in 0..<count {
                let sensor = "m\(Int.random(in: 0..<7, using: &generator))"
                if Bool.random(using: &generator) && Int.random(in: 0..<4, using: &generator) == 0 {
                    ingest(p, "parks/a/z/energy/power/\(sensor)", "{bad")
                    bad += 1
                } else {
                    ingest(p, "parks/a/z/energy/power/\(sensor)", #"{"value": 1.5}"#)
                    expected[sensor, default: 0] += 1
                }
            }
            let snapshot = p.takeInterval()
            #expect(snapshot.counters.messages == count)
            #expect(snapshot.counters.rejectedTotal == bad)
            #expect(
                Dictionary(uniqueKeysWithValues: snapshot.series.map { ($0.id.sensor, $0.interval.readings) })
                    == expected)
        }
    }

    @Test("the summary line is JSON with stable fields in the park's local time")
    func summaryLine() throws {
        let p = try pipeline()
        ingest(p, "parks/a/z1/energy/power/m1", #"{"value": 12.5, "ts": "2026-11-23T10:00:00Z"}"#)
        ingest(p, "parks/a/z1/energy/power/m1", "nope")
        let line = SummaryFormat.line(
            p.takeInterval(), from: EventTime(milliseconds: 1_795_398_000_000),
            to: EventTime(milliseconds: 1_795_398_060_000), utcOffsetMinutes: 420)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "ingest_counts")
        #expect(object["from"] as? String == "2026-11-23T08:40:00.000+07:00")
        #expect(object["messages"] as? Int == 2)
        #expect(object["readings"] as? Int == 1)
        #expect((object["rejected"] as? [String: Int])?["malformed"] == 1)
        let series = try #require((object["series"] as? [[String: Any]])?.first)
        #expect(series["sensor"] as? String == "m1")
        #expect(series["last"] as? Double == 12.5)
        #expect(series["last_at"] as? String == "2026-11-23T17:00:00.000+07:00")
    }

    @Test("topics with control characters are escaped in logs and JSON")
    func escaping() {
        #expect(LogSafe.text("parks/a\u{1b}[31m/\n") == "parks/a\\x1b[31m/\\x0a")
        var line = JSONLine()
        line.add("topic", "a\"b\\c\u{01}")
        #expect(line.finished() == #"{"topic":"a\"b\\c\u0001"}"#)
    }

    @Test("summary boundaries align to the park's local time")
    func boundaries() {
        let t = EventTime(milliseconds: 1_795_400_123_456)
        #expect(
            WallClock.nextBoundary(after: t, intervalSeconds: 60, utcOffsetMinutes: 420).milliseconds
                == 1_795_400_160_000)
        // Daily: midnight in UTC+7 is 17:00 UTC.
        let day = WallClock.nextBoundary(after: t, intervalSeconds: 86400, utcOffsetMinutes: 420)
        #expect(RFC3339.format(day, offsetMinutes: 420).hasSuffix("T00:00:00.000+07:00"))
        #expect(day.milliseconds > t.milliseconds && day.milliseconds - t.milliseconds <= 86_400_000)
    }
}
