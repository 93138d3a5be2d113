import ArgumentParser
import Foundation
import Logging
import MQTTClient
import ParkSimulation
import TelemetryCore

struct Parksim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parksim",
        abstract: "Simulated eco-industrial park sensor traffic.",
        subcommands: [Run.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish simulated readings to a broker at a target rate.")

    @Option(help: "Broker URL (mqtt:// or mqtts://).") var url = "mqtt://127.0.0.1:1883"
    @Option(help: "MQTT protocol: 3.1.1 or 5.") var protocolVersion = "3.1.1"
    @Option(help: "Client id.") var clientID = "parksim"
    @Option(help: "Username.") var username: String?
    @Option(help: "Read the password from this file.") var passwordFile: String?
    @Option(help: "Read the password from this environment variable.") var passwordEnv: String?
    @Option(help: "CA file for mqtts.") var caFile: String?
    @Option(help: "QoS 0 or 1.") var qos = 1
    @Option(help: "Number of parks.") var parks = 1
    @Option(help: "Sensors per park.") var sensors = 14
    @Option(help: "Messages per second (0: as fast as the broker takes them).") var rate = 50.0
    @Option(help: "Stop after this many messages.") var count = 500
    @Option(help: "Break one message in N (0: never), to show rejection.") var malformedEvery = 0
    @Option(help: "Random seed: the same seed gives the same traffic.") var seed: UInt64 = 1

    func validate() throws {
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos must be 0 or 1") }
        guard parks > 0, sensors > 0, count > 0, rate >= 0 else {
            throw ValidationError("--parks, --sensors and --count must be positive, --rate not negative")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: url), protocolVersion: protocolVersion == "5" ? .v5 : .v311,
            clientID: clientID, cleanSession: true)
        configuration.username = username
        if let passwordFile { configuration.password = try Secret.fromFile(passwordFile) }
        if let passwordEnv { configuration.password = try Secret.fromEnvironment(passwordEnv) }
        if let caFile { configuration.tls = .init(caFile: caFile) }
        let client = try MQTTClient(configuration: configuration, logger: Logger(label: "parksim"))
        client.start()
        try client.waitUntilConnected(timeout: 15)

        var generator = TrafficGenerator(
            parks: parks, sensorsPerPark: sensors, seed: seed, malformedEvery: malformedEvery)
        let start = Date()
        var errors = 0
        for i in 0..<count {
            if rate > 0 {
                let due = start.addingTimeInterval(Double(i) / rate)
                let wait = due.timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
            let message = generator.next(at: EventTime(seconds: Date().timeIntervalSince1970))
            do {
                try client.publish(message.topic, text: message.payload, qos: qos == 0 ? .atMostOnce : .atLeastOnce)
            } catch {
                errors += 1
            }
        }
        try client.flush(timeout: 30)
        let elapsed = Date().timeIntervalSince(start)
        client.stop()
        print(
            "parksim: sent \(count - errors) messages from \(generator.sensors.count) sensors in "
                + String(format: "%.2fs (%.0f msg/s), %d errors", elapsed, Double(count - errors) / elapsed, errors))
        if errors > 0 { throw ExitCode(1) }
    }
}

Parksim.main()
