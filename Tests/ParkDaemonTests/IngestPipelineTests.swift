import Foundation
import Logging
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

@Suite("Ingest pipeline")
struct IngestPipelineTests {
    static let defaultRoute = TopicRoute(pattern: try! TopicPattern(TopicPattern.defaultPattern))

    func pipeline(
        routes: [TopicRoute] = [defaultRoute], maxSeries: Int = 1000, maxPayload: Int = 1024
    ) -> IngestPipeline {
        var routes = routes
        for index in routes.indices {
            let d = routes[index].decoder
            routes[index].decoder = PayloadDecoder(
                format: d.format, maxBytes: maxPayload, lorawanPaths: d.lorawan?.paths ?? [])
        }
        return IngestPipeline(
            settings: .init(routes: routes, limits: .init(maxSeries: maxSeries)), logger: Logger(label: "test"))
    }

    let now = EventTime(milliseconds: 1_795_400_000_000)

    func ingest(_ p: IngestPipeline, _ topic: String, _ payload: String, at time: EventTime? = nil) {
        p.ingest(topic: topic, payload: Array(payload.utf8), arrival: time ?? now)
    }

    @Test("readings are counted per series; bad input is counted by reason and changes nothing else")
    func counts() throws {
        let p = pipeline()
        for i in 0..<10 { ingest(p, "parks/a/z1/energy/active_power/m1", #"{"value": \#(i), "seq": \#(i)}"#) }
        for i in 0..<5 { ingest(p, "parks/a/z1/emissions/pm25/s1", #"{"value": \#(i), "ts": \#(1_795_400_000 + i)}"#) }
        ingest(p, "parks/a/z1/energy/active_power/m1", "garbage")
        ingest(p, "parks/a/z1/energy/active_power/m1", #"{"ts": 1}"#)
        ingest(p, "parks/a/z1/energy/active_power/m1", "")
        ingest(p, "parks/a/z1/energy/active_power", #"{"value": 1}"#)
        ingest(p, "parks/a/z1/water/active_power/m1", #"{"value": 1}"#)
        ingest(
            p, "parks/a/z1/energy/active_power/m1", #"{"value": 1, "pad": "\#(String(repeating: "x", count: 2000))"}"#)
        let snapshot = p.takeInterval(details: true)
        #expect(snapshot.counters.messages == 21)
        #expect(snapshot.counters.readings == 15)
        #expect(snapshot.counters.accepted == 15)
        #expect(
            snapshot.counters.rejected == [.malformed: 1, .missingField: 1, .empty: 1, .unknownTopic: 2, .tooLarge: 1])
        #expect(snapshot.series.count == 2)
        let power = try #require(snapshot.series.first { $0.id.kind == "active_power" })
        #expect(power.interval.readings == 10)
        #expect(power.interval.last == 9)
        #expect(power.interval.lastTime == now)
        let hour = try #require(power.windows.first { $0.name == "1h" }?.stats)
        #expect(hour.count == 10 && hour.mean == 4.5 && hour.min == 0 && hour.max == 9)
        // The next interval starts empty; totals keep everything; windows keep their history.
        #expect(p.takeInterval().counters == IngestCounters())
        #expect(p.totals.messages == 21)
    }

    @Test("duplicates, late readings, calibration, out-of-range values and unit errors are counted, never averaged")
    func quality() throws {
        let p = pipeline()
        let topic = "parks/a/z/emissions/pm25/s1"
        ingest(p, topic, #"{"value": 40, "ts": 1795400000, "seq": 1}"#)
        ingest(p, topic, #"{"value": 40, "ts": 1795400000, "seq": 1}"#)  // duplicate
        ingest(p, topic, #"{"value": 44, "ts": 1795400060, "seq": 2, "status": "calibrating"}"#)
        ingest(p, topic, #"{"value": 99999, "ts": 1795400120, "seq": 3}"#)  // over the physical range
        ingest(p, topic, #"{"value": 0.05, "unit": "mg/m3", "ts": 1795400180, "seq": 4}"#)  // 50 µg/m³
        ingest(p, topic, #"{"value": 3, "unit": "ppb", "ts": 1795400240, "seq": 5}"#)  // no known conversion
        ingest(p, topic, #"{"value": 1, "ts": 1795399000, "seq": 6}"#)  // 20 minutes late
        let snapshot = p.takeInterval(details: true)
        var outcomes = SeriesState.Counts()
        (outcomes.accepted, outcomes.duplicate, outcomes.calibrating, outcomes.invalid, outcomes.late) = (2, 1, 1, 1, 1)
        #expect(snapshot.counters.outcomes == outcomes)
        #expect(snapshot.counters.rejected == [.badUnit: 1])
        let series = try #require(snapshot.series.first)
        let hour = try #require(series.windows.first { $0.name == "1h" }?.stats)
        #expect(hour.count == 2 && hour.mean == 45 && hour.calibrating == 1 && hour.invalid == 1)
    }

    @Test("several readings in one payload become several series, named by field through the route's aliases")
    func multiReading() throws {
        let route = TopicRoute(
            pattern: try TopicPattern("influx/{park}/{zone}/{sensor}", fixed: ["pillar": "emissions", "kind": "air"]),
            decoder: PayloadDecoder(format: .line), kindAliases: ["pm2_5": "pm25"])
        let p = pipeline(routes: [route, Self.defaultRoute])
        ingest(
            p, "influx/a/z/st1", "air,site=a pm2_5=41.5,no2=20i 1795400100000000000\nair pm2_5=42 1795400160000000000")
        let snapshot = p.takeInterval(details: true)
        #expect(snapshot.counters.accepted == 3)
        #expect(Set(snapshot.series.map(\.id.kind)) == ["pm25", "no2"])
        #expect(snapshot.series.first { $0.id.kind == "pm25" }?.interval.readings == 2)
    }

    @Test("over-long and over-deep topics are refused before any lookup, and counted")
    func topicLimits() {
        let p = IngestPipeline(
            settings: .init(routes: [Self.defaultRoute], limits: .init(maxTopicBytes: 64, maxTopicLevels: 8)),
            logger: Logger(label: "test"))
        ingest(p, "parks/a/z/energy/energy/" + String(repeating: "x", count: 100), #"{"value": 1}"#)
        ingest(p, Array(repeating: "a", count: 12).joined(separator: "/"), #"{"value": 1}"#)
        ingest(p, "parks/a/z/energy/energy/m1", #"{"value": 1}"#)
        let snapshot = p.takeInterval(details: true)
        #expect(snapshot.counters.rejected == [.topicTooLong: 2])
        #expect(snapshot.counters.accepted == 1)
    }

    @Test("each summary schedule keeps its own interval; totals count every message once")
    func schedules() {
        let p = IngestPipeline(
            settings: .init(routes: [Self.defaultRoute], schedules: 2), logger: Logger(label: "test"))
        for i in 0..<5 { ingest(p, "parks/a/z/energy/energy/m1", #"{"value": \#(i * 10)}"#) }
        #expect(p.takeInterval(schedule: 0).counters.accepted == 5)
        for i in 5..<8 { ingest(p, "parks/a/z/energy/energy/m1", #"{"value": \#(i * 10)}"#) }
        let minute = p.takeInterval(schedule: 0, from: now, to: now)
        let hour = p.takeInterval(schedule: 1, from: now, to: now)
        #expect(minute.counters.accepted == 3 && hour.counters.accepted == 8)
        #expect(minute.parks.first?.energyKWh == 30 && hour.parks.first?.energyKWh == 70)
        #expect(p.totals.messages == 8)
    }

    @Test("intervals of three schedules closed at random add up to the totals, and name only reasons they saw")
    func schedulesAddUp() {
        // Seeded: each schedule's intervals are what was counted since it last closed (one set
        // of counters for every message), so their sums must equal the totals exactly.
        var random = SeededRandom(seed: 26)
        let p = IngestPipeline(
            settings: .init(routes: [Self.defaultRoute], schedules: 3), logger: Logger(label: "test"))
        var sums = Array(repeating: IngestCounters(), count: 3)
        var sawZero = false
        for _ in 0..<600 {
            switch Int.random(in: 0..<5, using: &random) {
            case 0: ingest(p, "parks/a/z/energy/energy/m\(Int.random(in: 0..<4, using: &random))", "garbage")
            case 1: ingest(p, "parks/a/z/water/energy/m1", #"{"value": 1}"#)
            default:
                ingest(
                    p, "parks/a/z/emissions/pm25/s\(Int.random(in: 0..<4, using: &random))",
                    #"{"value": \#(Int.random(in: 0..<50, using: &random))}"#)
            }
            let k = Int.random(in: 0..<12, using: &random)
            guard k < 3 else { continue }
            let counters = p.takeInterval(schedule: k).counters
            sawZero = sawZero || counters.rejected.values.contains(0)
            sums[k].add(counters)
        }
        for k in 0..<3 {
            var sum = sums[k]
            sum.add(p.takeInterval(schedule: k).counters)
            #expect(sum == p.totals, "schedule \(k)")
        }
        #expect(!sawZero, "a reason with nothing in the interval was listed")
        #expect(p.totals.messages == 600 && p.totals.rejected[.malformed, default: 0] > 0)
    }

    @Test("past the series limit new series are refused and counted; existing ones keep working")
    func seriesLimit() throws {
        let p = pipeline(maxSeries: 3)
        for s in 0..<10 { ingest(p, "parks/a/z/energy/active_power/m\(s)", #"{"value": 1, "ts": 1795400000}"#) }
        for s in 0..<10 { ingest(p, "parks/a/z/energy/active_power/m\(s)", #"{"value": 2, "ts": 1795400001}"#) }
        let snapshot = p.takeInterval(details: true)
        #expect(p.seriesCount == 3)
        #expect(snapshot.counters.accepted == 6)
        #expect(snapshot.counters.rejected[.seriesLimit] == 14)
        #expect(snapshot.series.allSatisfy { $0.interval.readings == 2 })
    }

    @Test("counts are exact under random traffic (property)")
    func randomTraffic() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let p = pipeline()
            var expected: [String: Int] = [:]
            var bad = 0
            let count = Int.random(in: 1..<500, using: &generator)
            for i in 0..<count {
                let sensor = "m\(Int.random(in: 0..<7, using: &generator))"
                if Int.random(in: 0..<8, using: &generator) == 0 {
                    ingest(p, "parks/a/z/energy/active_power/\(sensor)", "{bad")
                    bad += 1
                } else {
                    ingest(p, "parks/a/z/energy/active_power/\(sensor)", #"{"value": 1.5, "seq": \#(i)}"#)
                    expected[sensor, default: 0] += 1
                }
            }
            let snapshot = p.takeInterval(details: true)
            #expect(snapshot.counters.messages == count)
            #expect(snapshot.counters.rejectedTotal == bad)
            #expect(snapshot.counters.accepted == count - bad)
            #expect(
                Dictionary(uniqueKeysWithValues: snapshot.series.map { ($0.id.sensor, $0.interval.readings) })
                    == expected)
        }
    }

    @Test("the summary line is JSON with stable fields in the park's local time")
    func summaryLine() throws {
        let p = pipeline()
        // Each arrives a second after its time (2026-11-23T10:00:00Z is 1 795 428 000 s).
        let arrival = EventTime(milliseconds: 1_795_428_031_000)
        ingest(p, "parks/a/z1/energy/energy/m1", #"{"value": 100, "ts": "2026-11-23T10:00:00Z"}"#, at: arrival)
        ingest(p, "parks/a/z1/energy/energy/m1", #"{"value": 112.5, "ts": "2026-11-23T10:00:30Z"}"#, at: arrival)
        ingest(p, "parks/a/z1/energy/energy/m1", "nope", at: arrival)
        let snapshot = p.takeInterval(details: true)
        let line = SummaryFormat.line(
            snapshot, from: EventTime(milliseconds: 1_795_398_000_000),
            to: EventTime(milliseconds: 1_795_398_060_000), utcOffsetMinutes: 420)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "ingest")
        #expect(object["from"] as? String == "2026-11-23T08:40:00.000+07:00")
        #expect(object["messages"] as? Int == 3)
        #expect(object["readings"] as? Int == 2)
        #expect((object["rejected"] as? [String: Int])?["malformed"] == 1)
        #expect(object["series"] == nil)  // per-series detail is a file of its own
        #expect(object["series_reporting"] as? Int == 1)
        let detail = SummaryFormat.seriesLines(
            snapshot, from: EventTime(milliseconds: 1_795_398_000_000), to: EventTime(milliseconds: 1_795_398_060_000),
            utcOffsetMinutes: 420)
        #expect(detail.count == 1)
        let series = try #require(try JSONSerialization.jsonObject(with: Data(detail[0].utf8)) as? [String: Any])
        #expect(series["type"] as? String == "series")
        #expect(series["sensor"] as? String == "m1")
        #expect(series["last"] as? Double == 112.5)
        #expect(series["last_at"] as? String == "2026-11-23T17:00:30.000+07:00")
        let hour = try #require((series["windows"] as? [String: [String: Any]])?["1h"])
        #expect(hour["count"] as? Int == 2)
        #expect(hour["increase"] as? Double == 12.5)  // energy is a counter in the catalog
        #expect(hour["rate_per_s"] as? Double == 12.5 / 30)
        // One quarter hour with data: the hour is not valid under the 3-of-4 rule.
        #expect(hour["valid_quarter_hours"] as? Int == 1)
        #expect(hour["valid"] as? Bool == false)
        let day = try #require((series["windows"] as? [String: [String: Any]])?["24h"])
        #expect(day["valid_hours"] as? Int == 0)
        #expect((series["windows"] as? [String: [String: Any]])?["1m"]?["valid"] == nil)
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
