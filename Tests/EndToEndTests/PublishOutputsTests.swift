import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("Alerts and summaries published to the broker")
struct PublishOutputsTests {
    /// An operator's client on `parkd/#`, and what it receives.
    static func watch(_ broker: Broker) throws -> (Received, MQTTClient) {
        let received = Received()
        let watcher = try MQTTClient(
            configuration: .init(
                url: try BrokerURL(parsing: broker.url), clientID: "operator", subscriptions: [.init("parkd/#")]),
            onMessage: { received.add($0) })
        watcher.start()
        try watcher.waitUntilConnected(timeout: 10)
        return (received, watcher)
    }

    static func sensor(_ broker: Broker) throws -> MQTTClient {
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        return sensor
    }

    @Test("each alert goes to its topic at QoS 1; the latest summary is retained for newcomers")
    func published() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "publish-outputs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (received, watcher) = try Self.watch(broker)
        defer { watcher.stop() }
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: """
                broker: {url: "\(broker.url)", client_id: parkd-pub, reconnect: {initial: 100ms, max: 1s}}
                summaries: {path: summaries.jsonl, interval: 1s, mqtt_topic: parkd/summary}
                rules:
                  - {id: too-high, severity: critical, match: {kind: pm25}, when: {above: 50}}
                alerts: {path: alerts.jsonl, mqtt_topic: "parkd/{park}/alerts/{severity}"}
                http: off
                """, arguments: ["--stdout"])
        #expect(parkd.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        let sensor = try Self.sensor(broker)
        try sensor.publish("parks/bau-bang/z/emissions/pm25/aq-1", text: #"{"value": 80}"#, qos: .atLeastOnce)
        try sensor.flush()
        #expect(received.wait(timeout: 10) { $0.contains { $0.topic == "parkd/bau-bang/alerts/critical" } })
        #expect(received.wait(timeout: 10) { $0.contains { $0.topic == "parkd/summary" } })
        let alert = try #require(received.all.first { $0.topic == "parkd/bau-bang/alerts/critical" })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(alert.payload)) as? [String: Any])
        #expect(
            object["rule"] as? String == "too-high" && object["state"] as? String == "firing"
                && object["value"] as? Double == 80)
        #expect(alert.qos == 1)

        // A newcomer gets the retained latest summary straight away.
        let late = Received()
        let newcomer = try MQTTClient(
            configuration: .init(
                url: try BrokerURL(parsing: broker.url), clientID: "late", cleanSession: true,
                subscriptions: [.init("parkd/summary")]),
            onMessage: { late.add($0) })
        newcomer.start()
        #expect(late.wait(timeout: 10) { $0.contains { $0.retain } })
        #expect(parkd.terminate() == 0)
        // In the foreground, alerts and summaries also go to standard output.
        #expect(parkd.log.contains("FIRING   critical too-high"))
        #expect(parkd.log.contains("messages 1  accepted 1"))
    }

    /// Ingest leaves the broker first at shutdown; the alerts queued by then are written and
    /// published just before it does, not only to the files.
    @Test("an alert raised just before SIGTERM still reaches its MQTT topic")
    func alertAtShutdown() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "publish-shutdown")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (received, watcher) = try Self.watch(broker)
        defer { watcher.stop() }
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: """
                broker: {url: "\(broker.url)", client_id: parkd-pub-stop, reconnect: {initial: 100ms, max: 1s}}
                summaries: {path: summaries.jsonl, interval: 1h}
                rules:
                  - {id: too-high, severity: critical, match: {kind: pm25}, when: {above: 50}}
                alerts: {path: alerts.jsonl, mqtt_topic: "parkd/{park}/alerts/{severity}"}
                http: off
                """)
        #expect(parkd.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        let sensor = try Self.sensor(broker)
        try sensor.publish("parks/bau-bang/z/emissions/pm25/aq-9", text: #"{"value": 90}"#, qos: .atLeastOnce)
        try sensor.flush()
        // Within the loop's second: the transition is most likely still queued when SIGTERM comes.
        Thread.sleep(forTimeInterval: 0.15)
        #expect(parkd.terminate() == 0)
        #expect(received.wait(timeout: 10) { $0.contains { $0.topic == "parkd/bau-bang/alerts/critical" } })
        let file = (try? String(contentsOf: directory.appendingPathComponent("alerts.jsonl"), encoding: .utf8)) ?? ""
        #expect(file.contains(#""state":"firing""#))
    }
}

extension Received {
    func wait(timeout: Double, until predicate: ([MQTTMessage]) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if predicate(all) { return true }
            usleep(50_000)
        }
        return predicate(all)
    }
}
