import Foundation
import ParkSimulation
import TelemetryCore
import Testing

@Suite("Traffic generator")
struct TrafficGeneratorTests {
    let start = EventTime(milliseconds: 1_795_400_000_000)

    func run(seed: UInt64, count: Int, malformedEvery: Int = 0) -> [(topic: String, payload: String)] {
        var generator = TrafficGenerator(parks: 2, sensorsPerPark: 14, seed: seed, malformedEvery: malformedEvery)
        return (0..<count).map { generator.next(at: EventTime(milliseconds: start.milliseconds + Int64($0))) }
    }

    @Test("the same seed gives the same messages; another seed does not")
    func determinism() {
        let a = run(seed: 9, count: 500)
        let b = run(seed: 9, count: 500)
        let c = run(seed: 10, count: 500)
        #expect(a.map(\.payload) == b.map(\.payload))
        #expect(a.map(\.topic) == b.map(\.topic))
        #expect(a.map(\.payload) != c.map(\.payload))
    }

    @Test("every message decodes on the default pattern, with per-sensor seq counting up from 1, values in range")
    func decodable() throws {
        let pattern = try TopicPattern(TopicPattern.defaultPattern)
        let decoder = JSONReadingDecoder()
        var lastSeq: [String: Int64] = [:]
        for message in run(seed: 1, count: 2_000) {
            let id = try #require(pattern.match(message.topic))
            let reading = try decoder.decode(Array(message.payload.utf8), arrival: start)
            #expect(reading.seq == (lastSeq[message.topic] ?? 0) + 1)
            lastSeq[message.topic] = reading.seq
            let profile = try #require(SensorProfile.standardMix.first { $0.kind == id.kind })
            #expect(profile.range.contains(reading.value))
            #expect(reading.unit == profile.unit)
        }
        #expect(lastSeq.count == 28)
    }

    @Test("one message in N is broken, exactly")
    func malformedRate() {
        let messages = run(seed: 3, count: 1_000, malformedEvery: 50)
        let decoder = JSONReadingDecoder()
        let broken = messages.filter { (try? decoder.decode(Array($0.payload.utf8), arrival: start)) == nil }
        #expect(broken.count == 20)
    }
}
