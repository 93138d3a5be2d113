import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("parkd run against a real broker", .serialized)
struct ParkdRunTests {
    func publisher(_ broker: Broker, id: String) throws -> MQTTClient {
        let client = try MQTTClient(
            configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: id, cleanSession: true))
        client.start()
        try client.waitUntilConnected(timeout: 10)
        return client
    }

    @Test("counts every reading, rejects bad input with a logged reason, and exits 0 on SIGTERM")
    func ingestAndShutdown() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "e2e")
        defer { try? FileManager.default.removeItem(at: directory) }
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-e2e", summaries: "summaries.jsonl"))
        #expect(parkd.waitForLog("connected to"))

        let client = try publisher(broker, id: "sensors")
        for i in 0..<50 {
            for sensor in ["aq-1", "aq-2", "aq-3"] {
                try client.publish(
                    "parks/bau-bang/zone-a/emissions/pm25/\(sensor)", text: #"{"value": \#(30 + i), "seq": \#(i)}"#,
                    qos: .atLeastOnce)
            }
        }
        for i in 0..<5 {
            try client.publish("parks/bau-bang/zone-a/emissions/pm25/aq-1", text: "{broken \(i)", qos: .atLeastOnce)
        }
        try client.publish("parks/bau-bang/stray", text: #"{"value": 1}"#, qos: .atLeastOnce)
        try client.publish("parks/bau-bang/zone-a/water/ph/w1", text: #"{"value": 7}"#, qos: .atLeastOnce)
        try client.flush()
        Thread.sleep(forTimeInterval: 0.5)

        #expect(parkd.terminate() == 0)
        #expect(try parkd.total("messages") == 157)
        #expect(try parkd.total("readings") == 150)
        #expect(try parkd.totalRejected("malformed") == 5)
        #expect(try parkd.totalRejected("unknown_topic") == 2)
        // Summary lines carry parks; the per-series detail file carries each sensor.
        let perSensor = try parkd.seriesLines()
            .reduce(into: [String: Int]()) { $0[$1["sensor"] as! String, default: 0] += $1["readings"] as! Int }
        let reporting = try parkd.summaries().reduce(0) { max($0, $1["series_reporting"] as? Int ?? 0) }
        #expect(reporting == 3)
        #expect(perSensor == ["aq-1": 50, "aq-2": 50, "aq-3": 50])
        let log = parkd.log
        #expect(log.contains("reason=malformed topic=parks/bau-bang/zone-a/emissions/pm25/aq-1"))
        #expect(log.contains("reason=unknown_topic topic=parks/bau-bang/stray"))
        #expect(log.contains("graceful shutdown requested"))
        #expect(log.contains("parkd stopped"))
    }

    @Test("readings published while parkd is down reach it when it returns (persistent session, QoS 1)")
    func nothingLostAcrossRestart() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "e2e-restart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ParkdProcess.configuration(
            brokerURL: broker.url, clientID: "parkd-persistent", summaries: "summaries.jsonl")
        let first = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(first.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)  // let the subscription settle
        let client = try publisher(broker, id: "sensors")
        for i in 0..<40 {
            try client.publish("parks/p/z/energy/power/m1", text: #"{"value": \#(i)}"#, qos: .atLeastOnce)
        }
        try client.flush()
        Thread.sleep(forTimeInterval: 0.5)
        #expect(first.terminate() == 0)
        #expect(try first.total("readings") == 40)

        for i in 0..<100 {
            try client.publish("parks/p/z/energy/power/m1", text: #"{"value": \#(i)}"#, qos: .atLeastOnce)
        }
        try client.flush()

        try FileManager.default.removeItem(atPath: first.summariesPath)
        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("session_present=true"))
        Thread.sleep(forTimeInterval: 1.0)
        #expect(second.terminate() == 0)
        #expect(try second.total("readings") == 100)
    }

    @Test("a wrong broker password is logged clearly and parkd keeps trying until told to stop")
    func wrongPassword() throws {
        let broker = try Broker(.init(users: ["parkd": "right"]))
        let directory = try Scratch.makeDirectory(prefix: "e2e-auth")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "wrong\n".write(to: directory.appendingPathComponent("pw"), atomically: true, encoding: .utf8)
        let parkd = try ParkdProcess(
            directory: directory,
            configuration: ParkdProcess.configuration(
                brokerURL: broker.url, clientID: "parkd-auth", summaries: "summaries.jsonl",
                extraBroker: "  username: parkd\n  password_file: pw"))
        #expect(parkd.waitForLog("not authorised"))
        #expect(parkd.process.isRunning)
        #expect(parkd.terminate() == 0)
        #expect(!parkd.log.contains("wrong"))
    }
}

@Suite("parkd check-config")
struct CheckConfigTests {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let directory = try Scratch.makeDirectory(prefix: "check")
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out").path
        let process = try ChildProcess(try BuiltProduct.path("parkd"), arguments, outputPath: output)
        let status = process.wait()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test("a good file prints the effective configuration and exits 0")
    func good() throws {
        let directory = try Scratch.makeDirectory(prefix: "check-good")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("parkd.yaml").path
        try "broker:\n  url: mqtt://127.0.0.1:1883\n  username: u\n  password_env: HOME\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try run(["check-config", file])
        #expect(status == 0)
        #expect(output.contains("url: mqtt://127.0.0.1:1883"))
        #expect(output.contains("password_env: HOME  # password redacted"))
        #expect(!output.contains(ProcessInfo.processInfo.environment["HOME"] ?? "\u{0}"))
    }

    @Test("a broken file names the file, line and key, and exits 2")
    func broken() throws {
        let directory = try Scratch.makeDirectory(prefix: "check-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("parkd.yaml").path
        try "broker:\n  url: mqtt://127.0.0.1\nsummaries:\n  interval: often\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try run(["check-config", file])
        #expect(status == 2)
        #expect(output.contains("\(file):4: summaries.interval: expected a duration"), "\(output)")
    }
}
