import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("Alerts across a restart", .serialized)
struct AlertRestartTests {
    @Test("an active alert survives a restart: no second firing line, and it resolves later with the same id")
    func restart() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "alert-restart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration =
            ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-alerts", summaries: "summaries.jsonl")
                + """

                rules:
                  - {id: too-high, description: "PM2.5 reading above 50", severity: critical, match: {kind: pm25}, when: {above: 50, clear: 45}}
                alerts: {path: alerts.jsonl}
                state_dir: state
                """
        let publisher = try MQTTClient(
            configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor", cleanSession: true))
        publisher.start()
        try publisher.waitUntilConnected(timeout: 10)
        func send(_ value: Double) throws {
            try publisher.publish("parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(value)}"#, qos: .atLeastOnce)
            try publisher.flush()
        }
        func alerts() throws -> [[String: Any]] {
            let text =
                (try? String(contentsOf: directory.appendingPathComponent("alerts.jsonl"), encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }

        let first = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(first.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        try send(60)
        Thread.sleep(forTimeInterval: 1.5)
        #expect(first.terminate() == 0)
        #expect(try alerts().map { $0["state"] as? String } == ["firing"])
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("state/alerts.json").path))

        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("restored 1 active alerts"))
        Thread.sleep(forTimeInterval: 0.5)
        try send(70)  // still above: no new line
        try send(40)  // below the clear threshold: resolved, same episode
        Thread.sleep(forTimeInterval: 1.5)
        #expect(second.terminate() == 0)
        let lines = try alerts()
        #expect(lines.map { $0["state"] as? String } == ["firing", "resolved"])
        #expect(lines.first?["id"] as? String == lines.last?["id"] as? String)
    }

    @Test("a corrupt alert state file is set aside and reported, not fatal")
    func corrupt() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "alert-corrupt")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("state"), withIntermediateDirectories: true)
        try "{not json".write(
            to: directory.appendingPathComponent("state/alerts.json"), atomically: true, encoding: .utf8)
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-corrupt", summaries: "s.jsonl")
                + "\nrules: [{id: x, stale: 1h}]\nstate_dir: state\n")
        #expect(parkd.waitForLog("moved aside"))
        #expect(parkd.waitForLog("connected to"))
        #expect(parkd.terminate() == 0)
        #expect(
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("state/alerts.json.corrupt").path))
    }
}
