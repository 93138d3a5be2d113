import ArgumentParser
import Foundation
import Logging
import MQTTClient
import ParkDaemon

struct Parkd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkd",
        abstract: "Ingests eco-industrial park telemetry from MQTT and writes summaries.",
        subcommands: [Run.self, CheckConfig.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to the broker and ingest until SIGTERM or SIGINT.")

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Option(help: "Override log.level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    @Option(help: "Override broker.url, e.g. mqtt://127.0.0.1:1884.")
    var broker: String?

    func run() throws {
        var configuration = try loadOrExit(config)
        if let broker {
            do {
                configuration.broker.url = try BrokerURL(parsing: broker)
            } catch {
                FileHandle.standardError.write(Data("parkd: --broker: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let level = Logger.Level(rawValue: logLevel ?? configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let daemon = Daemon(configuration: configuration, logger: Logger(label: "parkd"))
        daemon.installSignalHandlers()
        do {
            try daemon.run()
        } catch {
            FileHandle.standardError.write(Data("parkd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and print the effective configuration, secrets masked.")

    @Argument(help: "The YAML configuration file.")
    var file: String

    func run() throws {
        let configuration = try loadOrExit(file)
        print(configuration.effectiveYAML, terminator: "")
    }
}

func loadOrExit(_ path: String) throws -> DaemonConfiguration {
    do {
        return try DaemonConfiguration.load(path: path)
    } catch {
        FileHandle.standardError.write(Data("parkd: configuration error: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

Parkd.main()
