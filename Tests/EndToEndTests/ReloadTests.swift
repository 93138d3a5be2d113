import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("SIGHUP reload")
struct ReloadTests {
    @Test("a valid file replaces the rules while running; an invalid one is refused and the old one kept")
    func reload() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "reload")
        defer { try? FileManager.default.removeItem(at: directory) }
        func configuration(limit: Int, summaries: String = "summaries.jsonl") -> String {
            ParkdProcess.configuration(brokerURL: broker.url, clientID: "parkd-reload", summaries: summaries)
                + "\nrules: [{id: high, severity: critical, match: {kind: pm25}, when: {above: \(limit)}}]\nalerts: {path: alerts.jsonl}\n"
        }
        let parkd = try ParkdProcess(directory: directory, configuration: configuration(limit: 50))
        #expect(parkd.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        func send(_ value: Int) throws {
            try sensor.publish("parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(value)}"#, qos: .atLeastOnce)
            try sensor.flush()
            Thread.sleep(forTimeInterval: 0.3)
        }
        func alerts() -> String {
            (try? String(contentsOf: directory.appendingPathComponent("alerts.jsonl"), encoding: .utf8)) ?? ""
        }
        let path = directory.appendingPathComponent("parkd.yaml")

        try send(40)
        #expect(alerts().isEmpty)

        try configuration(limit: 30, summaries: "summaries-2.jsonl").write(to: path, atomically: true, encoding: .utf8)
        parkd.process.signal(SIGHUP)
        #expect(parkd.waitForLog("configuration reloaded: 1 rules"))
        try send(40)
        Thread.sleep(forTimeInterval: 1.2)
        #expect(alerts().contains(#""state":"firing""#))
        // The summaries now go to the new file.
        let second = directory.appendingPathComponent("summaries-2.jsonl").path
        #expect(((try? String(contentsOfFile: second, encoding: .utf8)) ?? "").contains(#""type":"ingest""#))

        try "broker: {url: mqtt://h\nrules: [".write(to: path, atomically: true, encoding: .utf8)
        parkd.process.signal(SIGHUP)
        #expect(parkd.waitForLog("reload refused, keeping the running configuration"))
        #expect(parkd.log.contains("parkd.yaml"))
        try send(20)  // still running on the last good configuration: 20 < 30 resolves the alert
        Thread.sleep(forTimeInterval: 1.2)
        #expect(alerts().contains(#""state":"resolved""#))
        #expect(parkd.process.isRunning)
        #expect(parkd.terminate() == 0)
    }
}
