import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("Crash recovery")
struct CrashRecoveryTests {
    @Test("kill -9, then restart: windows come back from the last snapshot and the log says how old it was")
    func killNine() throws {
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "crash")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration =
            ParkdProcess.configuration(brokerURL: broker.url, clientID: "parkd-crash", summaries: "summaries.jsonl")
            + "\nstate_dir: state\nsnapshot_interval: 1s\n"
        let sensor = try MQTTClient(configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "sensor"))
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        let base = Int(Date().timeIntervalSince1970)

        let first = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(first.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        for i in 0..<30 {
            try sensor.publish(
                "parks/p/z/emissions/pm25/aq-1", text: #"{"value": \#(i), "ts": \#(base - 600 + i * 10)}"#,
                qos: .atLeastOnce)
        }
        try sensor.flush()
        Thread.sleep(forTimeInterval: 2.5)  // at least one snapshot with all 30
        first.process.signal(SIGKILL)
        first.process.wait()

        let second = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(second.waitForLog("restored the windows of 1 series"))
        #expect(second.log.contains("taken ") && second.log.contains("s ago"))
        #expect(second.waitForLog("connected to"))
        Thread.sleep(forTimeInterval: 0.3)
        try sensor.publish("parks/p/z/emissions/pm25/aq-1", text: #"{"value": 100, "ts": \#(base)}"#, qos: .atLeastOnce)
        try sensor.flush()
        Thread.sleep(forTimeInterval: 1.5)
        #expect(second.terminate() == 0)
        // The 1 h window after the restart holds the 30 readings from before the crash and the new one.
        let lines = try second.seriesLines()
        let counts = lines.compactMap { series -> Int? in
            guard let windows = series["windows"] as? [String: [String: Any]] else { return nil }
            return windows["1h"]?["count"] as? Int
        }
        #expect(counts.contains(31), "\(counts)")
    }
}
