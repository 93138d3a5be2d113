import Foundation
import Logging
import TelemetryCore
import Testing

@testable import ParkIngest

/// A replay decodes payloads on its reading thread and hands the readings to the pipeline: the
/// pipeline must then end where decoding itself would have taken it, and must not take
/// readings decoded for another route than the one the topic takes.
@Suite("Payloads decoded ahead")
struct PredecodedIngestTests {
    static let routes: [TopicRoute] = {
        var number = TopicRoute(pattern: try! TopicPattern("raw/{park}/{zone}/{pillar}/{kind}/{sensor}"))
        number.decoder = PayloadDecoder(format: .number, maxBytes: 256)
        var json = TopicRoute(pattern: try! TopicPattern(TopicPattern.defaultPattern))
        json.decoder = PayloadDecoder(maxBytes: 256)
        return [json, number]
    }()

    static func pipeline() -> IngestPipeline {
        IngestPipeline(
            settings: .init(routes: routes, limits: .init(maxSeries: 1000)), logger: Logger(label: "test"))
    }

    static let t0: Int64 = 1_795_400_000_000

    /// Topics of both routes and none; payloads good, late, repeated, malformed, empty, too
    /// large, not finite, several fields and bare numbers, each on either route.
    static func message(_ random: inout SeededRandom, _ k: Int) -> (topic: String, payload: String, arrival: EventTime)
    {
        let sensor = "s\(Int.random(in: 0..<6, using: &random))"
        let topic: String
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<6: topic = "parks/p\(k % 3)/z/emissions/pm25/\(sensor)"
        case 6..<9: topic = "raw/p\(k % 3)/z/energy/active_power/\(sensor)"
        default: topic = "elsewhere/\(sensor)"
        }
        let ts = t0 + Int64(k) * 1_000 - Int64.random(in: 0..<400_000, using: &random)
        let value = Double(Int.random(in: -50_000...50_000, using: &random)) / 100
        let payload: String
        switch Int.random(in: 0..<12, using: &random) {
        case 0: payload = "garbage"
        case 1: payload = ""
        case 2: payload = #"{"value": 1, "pad": "\#(String(repeating: "x", count: 300))"}"#
        case 3: payload = #"{"value": 1e999}"#
        case 4: payload = #"{"pm25": \#(value), "pm10": \#(value * 2), "ts": \#(ts)}"#
        case 5: payload = "\(value)"
        case 6: payload = #"{"ts": \#(ts)}"#
        default: payload = #"{"value": \#(value), "ts": \#(ts), "seq": \#(k % 50), "unit": "ug/m3"}"#
        }
        return (topic, payload, EventTime(milliseconds: t0 + Int64(k) * 1_000))
    }

    /// The payload decoded as a replay's reader decodes it: by the first route that matches.
    static func ahead(_ topic: String, _ payload: [UInt8], _ arrival: EventTime, into readings: inout [Reading])
        -> (route: Int, error: PayloadError?)?
    {
        guard let (route, _) = TopicRouter.match(topic, in: routes) else { return nil }
        do throws(PayloadError) {
            try payload.withUnsafeBufferPointer { (bytes) throws(PayloadError) in
                try routes[route].decoder.decode(bytes, arrival: arrival, into: &readings)
            }
            return (route, nil)
        } catch {
            return (route, error)
        }
    }

    @Test(
        "3 000 varied messages end the same, decoded by the pipeline or ahead of it", arguments: [1, 2, 3] as [UInt64])
    func same(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let itself = Self.pipeline()
        let given = Self.pipeline()
        for k in 0..<3_000 {
            let (topic, text, arrival) = Self.message(&random, k)
            let payload = Array(text.utf8)
            itself.ingest(topic: topic, payload: payload, arrival: arrival)
            var readings: [Reading] = []
            let decoded = Self.ahead(topic, payload, arrival, into: &readings)
            var name = topic
            name.withUTF8 { topicBytes in
                payload.withUnsafeBufferPointer { payloadBytes in
                    readings.withUnsafeBufferPointer { readings in
                        let ahead: IngestPipeline.Predecoded? = decoded.map {
                            if let error = $0.error { return .failed(route: $0.route, error) }
                            return .readings(route: $0.route, readings)
                        }
                        given.ingest(
                            topic: topicBytes, topicHash: TopicIndex.hash(topicBytes), payload: payloadBytes,
                            decoded: ahead, arrival: arrival)
                    }
                }
            }
        }
        #expect(itself.totals == given.totals)
        let (a, b) = (itself.takeInterval(details: true), given.takeInterval(details: true))
        #expect(a.counters == b.counters)
        let outcomes = a.counters.outcomes
        #expect(
            outcomes.accepted > 300 && outcomes.late > 0 && outcomes.duplicate > 0 && outcomes.invalid > 0
                && a.counters.rejected.count >= 6, "the mix reaches every path: \(a.counters)")
        #expect(a.series.map(\.id) == b.series.map(\.id))
        for (x, y) in zip(a.series, b.series) {
            // As text: an empty interval's last value is NaN, which is not equal to itself.
            #expect("\(x.interval)" == "\(y.interval)" && x.counts == y.counts, "\(x.id)")
            #expect("\(x.windows.map(\.stats))" == "\(y.windows.map(\.stats))", "\(x.id)")
        }
    }

    @Test("readings decoded for another route are not taken: the payload is decoded for the topic's own")
    func otherRoute() throws {
        let p = Self.pipeline()
        let arrival = EventTime(milliseconds: Self.t0)
        var topic = "parks/p/z/emissions/pm25/s1"
        let forged = [Reading(value: 42, time: arrival)]
        let garbage = Array("garbage".utf8)
        func send(route: Int) {
            _ = topic.withUTF8 { t in
                garbage.withUnsafeBufferPointer { g in
                    forged.withUnsafeBufferPointer { r in
                        p.ingest(topic: t, payload: g, decoded: .readings(route: route, r), arrival: arrival)
                    }
                }
            }
        }
        // Decoded for the number route: this topic takes the JSON route, whose decoder refuses it.
        send(route: 1)
        #expect(p.totals.accepted == 0 && p.totals.rejected == [.malformed: 1])
        // Decoded for its own route: taken as given.
        send(route: 0)
        #expect(p.totals.accepted == 1)
        // A failure decoded for another route is not taken either: this payload is good JSON.
        let good = Array(#"{"value": 7}"#.utf8)
        let failure = PayloadError(.malformed, "payload is not a bare number")
        let later = EventTime(milliseconds: Self.t0 + 1_000)
        _ = topic.withUTF8 { t in
            good.withUnsafeBufferPointer { g in
                p.ingest(topic: t, payload: g, decoded: .failed(route: 1, failure), arrival: later)
            }
        }
        #expect(p.totals.accepted == 2 && p.totals.rejected == [.malformed: 1])
        // Decoded for its own route, the failure is the verdict.
        _ = topic.withUTF8 { t in
            good.withUnsafeBufferPointer { g in
                p.ingest(topic: t, payload: g, decoded: .failed(route: 0, failure), arrival: later)
            }
        }
        #expect(p.totals.accepted == 2 && p.totals.rejected == [.malformed: 2])
        let id = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "s1")
        #expect(p.seriesState(id)?.raw.readings.map(\.value) == [42, 7])
    }
}
