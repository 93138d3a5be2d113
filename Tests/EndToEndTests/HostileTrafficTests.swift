import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// Good readings interleaved with every kind of bad input, through a real broker to a running
/// `parkd run` with rule packs loaded: it stays up and healthy, and what it counts adds up to
/// exactly what was sent.
@Suite("Hostile traffic against a running parkd")
struct HostileTrafficTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// One bad input each: topic, payload, and what parkd must count for it.
    enum Expect {
        case rejected(String, Int)
        case outcome(String)
        case acceptedOrPark
    }

    static func bad(_ k: Int, index: Int) -> (String, String, Expect) {
        switch k {
        case 0:
            return (
                "senml/p/z/emissions/pm25/s1", #"[{"bn":"d:","bt":1.7e18,"n":"pm25","v":41}]"#, .rejected("bad_time", 1)
            )
        case 1: return ("senml/p/z/emissions/pm25/s1", #"[{"n":"pm25","t":-1e300,"v":1}]"#, .rejected("bad_time", 1))
        case 2:
            return ("application/a/device/d1/event/up", #"{"object":{"temperature":1e999}}"#, .rejected("bad_field", 1))
        case 3:
            return (
                "senml/p/z/emissions/pm25/s2", #"[{"bn":"a","bt":9.2e15,"v":1},{"n":"b","t":-1.8e16,"v":2}]"#,
                .rejected("bad_time", 1)
            )
        case 4:
            return (
                "parks/good/z/emissions/pm25/clock", #"{"value": 20, "ts": "2100-01-01T00:00:00Z"}"#,
                .outcome("future_time")
            )
        case 5:
            return (
                "parks/good/z/emissions/pm25/old", #"{"value": 20, "ts": "1900-01-01T00:00:00Z"}"#, .outcome("too_old")
            )
        case 6:
            let keys = (0..<6000).map { "\"k\($0)\": \($0)" }.joined(separator: ",")
            return ("parks/good/z/emissions/multi/m\(index)", "{\(keys)}", .rejected("unknown_kind", 6000))
        case 7: return ("parks/evil/z/emissions/pm25/flood-\(index)", #"{"value": 1}"#, .acceptedOrPark)
        case 8: return ("elsewhere/\(index)", #"{"value": 1}"#, .rejected("unknown_topic", 1))
        case 9: return ("parks/good/z/emissions/pm25/s3", "{\"value\": 1,", .rejected("malformed", 1))
        case 10:
            return (
                "parks/good/z/emissions/pm25/s4", "{\"value\": 1, \"status\": \"ok\\nFAKE: all clear\\u001b[2J\"}",
                .rejected("bad_field", 1)
            )
        default: return ("senml/p/z/emissions/pm25/s5", #"[{"n":"pm25","v":1,"x_":2}]"#, .rejected("bad_field", 1))
        }
    }

    @Test("3 000 mixed messages: parkd stays up, /healthz stays 200, and every message and reading is accounted for")
    func mixedStream() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "hostile")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let configuration =
            ParkdProcess.configuration(brokerURL: broker.url, clientID: "parkd-hostile", summaries: "summaries.jsonl")
                + """

                subscriptions: [{filter: "#", qos: 1}]
                topics:
                  - {pattern: "parks/{park}/{zone}/{pillar}/{kind}/{sensor}"}
                  - {pattern: "senml/{park}/{zone}/{pillar}/{kind}/{sensor}", format: senml}
                  - {pattern: "application/+/device/{sensor}/event/up", fixed: {park: p, zone: lora, pillar: green, kind: lorawan}, format: chirpstack}
                payload: {max_bytes: 131072}
                rule_files: ["\(Self.root)/Deploy/rules/sensor-health.yaml"]
                limits: {max_series: 500, max_series_per_park: 50}
                alerts: {path: alerts.jsonl}
                """
        let parkd = try ParkdProcess(
            directory: directory, configuration: configuration, arguments: ["--http", "127.0.0.1:\(port)"])
        #expect(parkd.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.5)

        let publisher = try MQTTPublisher(
            configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "hostile-sender"))
        try publisher.connect()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var rejected: [String: Int] = [:]
        var outcomes: [String: Int] = [:]
        var readings = 0
        var evil = 0
        let total = 3000
        for i in 0..<total {
            let topic: String
            let payload: String
            if i % 3 == 0 {
                let (t, p, expect) = Self.bad((i / 3) % 12, index: i)
                (topic, payload) = (t, p)
                switch expect {
                case .rejected(let reason, let count):
                    rejected[reason, default: 0] += count
                    if reason == "unknown_kind" { readings += count }  // decoded, then refused one by one
                case .outcome(let outcome):
                    outcomes[outcome, default: 0] += 1
                    readings += 1
                case .acceptedOrPark:
                    readings += 1
                    evil += 1
                    if evil <= 50 {
                        outcomes["accepted", default: 0] += 1
                    } else {
                        rejected["park_series_limit", default: 0] += 1
                    }
                }
            } else {
                // 20 good sensors, each reading with its own seq and a time a few ms apart.
                topic = "parks/good/z/emissions/pm25/g\(i % 20)"
                payload = #"{"value": \#(10 + i % 7), "ts": \#(now + Int64(i)), "seq": \#(i)}"#
                outcomes["accepted", default: 0] += 1
                readings += 1
            }
            try publisher.publish(topic, payload: Array(payload.utf8), qos: .atLeastOnce)
        }
        try publisher.flush()

        func metric(_ name: String) throws -> Double? {
            let body = try HTTPGet.get(port: port, path: "/metrics").body
            return body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Double($0.split(separator: " ").last ?? "")
            }
        }
        let deadline = Date(timeIntervalSinceNow: 30)
        while Date() < deadline, try metric("parkd_messages_total") != Double(total) { usleep(100_000) }
        #expect(try metric("parkd_messages_total") == Double(total))
        #expect(parkd.process.isRunning)
        #expect(try HTTPGet.get(port: port, path: "/healthz").status == 200)
        for (reason, count) in rejected {
            #expect(try metric(#"parkd_rejected_total{reason="\#(reason)"}"#) == Double(count), "\(reason)")
        }
        for (outcome, count) in outcomes {
            #expect(try metric(#"parkd_reading_outcomes_total{outcome="\#(outcome)"}"#) == Double(count), "\(outcome)")
        }
        #expect(try metric("parkd_readings_total") == Double(readings))
        // Every decoded reading has an outcome or a reading-level refusal: nothing vanishes.
        var outcomeSum = 0.0
        for outcome in [
            "accepted", "late", "duplicate", "out_of_order", "invalid", "calibrating", "error", "future_time",
            "too_old", "retained",
        ] {
            outcomeSum += try metric(#"parkd_reading_outcomes_total{outcome="\#(outcome)"}"#) ?? 0
        }
        let readingRefusals =
            try (metric(#"parkd_rejected_total{reason="unknown_kind"}"#) ?? 0)
            + (metric(#"parkd_rejected_total{reason="park_series_limit"}"#) ?? 0)
        #expect(outcomeSum + readingRefusals == Double(readings))
        #expect(try metric("parkd_series_count") == 70)  // 20 good + 50 from the flooding park

        // And it keeps taking good readings afterwards.
        for k in 0..<10 {
            try publisher.publish(
                "parks/good/z/emissions/pm25/g0", payload: Array(#"{"value": 5, "seq": \#(10_000 + k)}"#.utf8),
                qos: .atLeastOnce)
        }
        try publisher.flush()
        let accepted = Double(outcomes["accepted"] ?? 0) + 10
        let again = Date(timeIntervalSinceNow: 15)
        while Date() < again, try metric(#"parkd_reading_outcomes_total{outcome="accepted"}"#) != accepted {
            usleep(100_000)
        }
        #expect(try metric(#"parkd_reading_outcomes_total{outcome="accepted"}"#) == accepted)
        // The forged log line did not make it into the log as a line of its own.
        #expect(!parkd.log.split(separator: "\n").contains { $0.hasPrefix("FAKE") })
        #expect(parkd.terminate() == 0)
    }
}
