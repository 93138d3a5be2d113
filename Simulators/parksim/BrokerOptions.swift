import ArgumentParser
import MQTTClient

/// The broker options parksim shares with parkd's configuration.
struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker URL (mqtt:// or mqtts://).") var url = "mqtt://127.0.0.1:1883"
    @Option(name: .customLong("protocol"), help: "MQTT protocol: 3.1.1 or 5.") var protocolVersion = "3.1.1"
    @Option(help: "Client id.") var clientID = "parksim"
    @Option(help: "Username.") var username: String?
    @Option(help: "Read the password from this file.") var passwordFile: String?
    @Option(help: "Read the password from this environment variable.") var passwordEnv: String?
    @Option(help: "CA file for mqtts.") var caFile: String?
    @Option(help: "QoS 0 or 1.") var qos = 1

    func validate() throws {
        guard qos == 0 || qos == 1 else { throw ValidationError("--qos must be 0 or 1") }
        guard protocolVersion == "3.1.1" || protocolVersion == "5" else {
            throw ValidationError("--protocol must be 3.1.1 or 5")
        }
    }

    var qosLevel: QoS { qos == 0 ? .atMostOnce : .atLeastOnce }

    /// A connected publisher, driven by the calling thread.
    func connect() throws -> MQTTPublisher {
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: url), protocolVersion: protocolVersion == "5" ? .v5 : .v311,
            clientID: clientID, cleanSession: true, maxInflight: 100, maxQueuedPublishes: 2000)
        configuration.username = username
        if let passwordFile { configuration.password = try Secret.fromFile(passwordFile) }
        if let passwordEnv { configuration.password = try Secret.fromEnvironment(passwordEnv) }
        if let caFile { configuration.tls = .init(caFile: caFile) }
        let publisher = try MQTTPublisher(configuration: configuration)
        try publisher.connect(timeout: 15)
        return publisher
    }
}
