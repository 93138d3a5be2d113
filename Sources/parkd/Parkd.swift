import ArgumentParser
import Foundation
import Logging
import MQTTClient
import ParkConfig
import ParkGateway
import ParkIngest
import ServiceSupport
import Synchronization
import TelemetryCore

@main
struct Parkd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkd",
        abstract: "Ingests eco-industrial park telemetry from MQTT and writes summaries.",
        subcommands: [
            Run.self, Replay.self, TailCommand.self, Query.self, Report.self, CheckConfig.self,
        ])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to the broker and ingest until SIGTERM or SIGINT.")

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Option(help: "Override log.level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    @Option(help: "Override broker.url, e.g. mqtt://127.0.0.1:1884.")
    var broker: String?

    @Option(help: "Override http.listen, e.g. 127.0.0.1:9108, or 'off'.")
    var http: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Also print alerts and summaries on standard output (default: when it is a terminal).")
    var stdout: Bool?

    func run() async throws {
        // SIGHUP's default action ends the process: until the reload handler is installed
        // (after the configuration is loaded), a `systemctl reload` right after start is
        // ignored rather than fatal; the file it would reload is being loaded anyway.
        signal(SIGHUP, SIG_IGN)
        LargeAllocations.mapSeparately()
        var configuration = try loadOrExit(config)
        var brokerURL: BrokerURL?
        if let broker {
            do {
                brokerURL = try BrokerURL(parsing: broker)
            } catch {
                FileHandle.standardError.write(Data("parkd: --broker: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        bootstrapLogging(logLevel ?? configuration.logLevel)
        var listen: HTTPListen??
        if let http {
            if http == "off" {
                listen = .some(nil)
            } else if let parsed = HTTPListen.parse(http) {
                listen = parsed
            } else {
                FileHandle.standardError.write(Data("parkd: --http: expected host:port or off\n".utf8))
                throw ExitCode(2)
            }
        }
        // The same overrides apply to every configuration a SIGHUP reloads.
        let (url, endpoint) = (brokerURL, listen)
        let overrides: @Sendable (inout DaemonConfiguration) -> Void = { configuration in
            if let url {
                configuration.broker.url = url
                configuration.broker.fallbackURLs = []
            }
            if let endpoint {
                configuration.listen = endpoint
                if endpoint == nil { configuration.probeListen = nil }
            }
        }
        overrides(&configuration)
        let daemon = Daemon(
            configuration: configuration, logger: Logger(label: "parkd"), echo: stdout ?? (isatty(1) != 0),
            overrides: overrides)
        do {
            try await daemon.serve()
        } catch {
            FileHandle.standardError.write(Data("parkd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a recorded feed through the pipeline in event time, as fast as it goes.",
        discussion: "Writes the summaries `parkd run` would have written for the same traffic.")

    @Argument(help: "The feed file (JSON Lines: t, topic, payload or payload_b64).")
    var feed: String

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Option(help: "The folder for the replay's outputs (default: the feed's name with .replay).")
    var out: String?

    @Option(help: "Write summaries here instead (the file is started afresh).")
    var summaries: String?

    @Option(help: "Write alerts here instead (started afresh); the human log goes beside it.")
    var alerts: String?

    @Option(help: "Write compliance records here instead (started afresh).")
    var compliance: String?

    @Option(
        help:
            "Fill this history store (SQLite) from the feed: rollups, compliance records, alerts and summaries (backfill). Rows already there are replaced, never doubled."
    )
    var history: String?

    @Option(help: "With --history: write each completed day's report (HTML, PDF with Chromium) into this folder.")
    var reports: String?

    @Flag(help: "Allow writing to the files the configuration names for a live daemon.")
    var overwriteLive = false

    @Option(
        help:
            "Threads that ingest in parallel (parks are spread over 8 shards); the outputs are the same bytes for any number. Default: the cores available, at most 8."
    )
    var workers: Int?

    @Option(help: "Override log.level.")
    var logLevel: String?

    func run() throws {
        LargeAllocations.mapSeparately()
        var configuration = try loadOrExit(config)
        do {
            configuration = try ReplayOutputs(
                folder: out ?? (feed.hasSuffix(".jsonl") ? String(feed.dropLast(6)) : feed) + ".replay",
                summaries: summaries, alerts: alerts, compliance: compliance, history: history, reports: reports
            ).apply(to: configuration, overwriteLive: overwriteLive)
        } catch {
            FileHandle.standardError.write(Data("parkd replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        bootstrapLogging(logLevel ?? configuration.logLevel)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let replay = ParkGateway.Replay(
            configuration: configuration, logger: Logger(label: "parkd"),
            workers: max(1, min(8, workers ?? cores)))
        replay.leavesStateToExit = true
        let report: ParkGateway.Replay.Report
        do {
            report = try replay.run(feed: feed)
        } catch {
            FileHandle.standardError.write(Data("parkd: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let t = report.totals
        let rate = report.seconds > 0 ? Double(report.records) / report.seconds : 0
        let line =
            "parkd replay: \(report.records) messages (\(report.badLines) bad feed lines skipped), "
            + "\(t.readings) readings, \(t.accepted) accepted, \(t.rejectedTotal) rejected, \(report.alerts) alert lines, "
            + "in \(String(format: "%.2f", report.seconds))s (\(Int(rate)) msg/s); summaries: \(configuration.summaries.path)\n"
        FileHandle.standardError.write(Data(line.utf8))
        if let path = configuration.history.path {
            let rowRate = report.historySeconds > 0 ? Double(report.historyRows) / report.historySeconds : 0
            FileHandle.standardError.write(
                Data(
                    "parkd replay: history \(path): \(report.historyRows) rows in \(String(format: "%.2f", report.historySeconds))s of transactions (\(Int(rowRate)) rows/s)\n"
                        .utf8))
        }
        // The outputs are closed and flushed: the replay's state goes with the process.
        withExtendedLifetime(replay) { Foundation.exit(0) }
    }
}

struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow the alerts or summaries file across rotation, with filters.")

    @Argument(help: "alerts or summaries.") var what: String = "alerts"
    @Option(name: .shortAndLong, help: "The configuration naming the files.") var config: String?
    @Option(help: "Follow this file instead of the configured one.") var file: String?
    @Option(help: "Only this park.") var park: String?
    @Option(help: "Only this pillar (energy, emissions, green).") var pillar: String?
    @Option(help: "Only alerts at least this severe (info, warning, critical).") var severity: String?
    @Option(help: "Only this rule.") var rule: String?
    @Option(help: "Start from this time (RFC 3339) or this long ago (e.g. 1h), rotated files included.") var since:
        String?
    @Flag(help: "Print the JSON lines as they are.") var json = false
    @Flag(help: "Print what is there and stop.") var noFollow = false

    func run() throws {
        guard let kind = Tail.Kind(rawValue: what) else {
            throw ValidationError("expected alerts or summaries, found '\(what)'")
        }
        var path = file
        if path == nil {
            guard let config else { throw ValidationError("give --config or --file") }
            let configuration = try loadOrExit(config)
            path = kind == .alerts ? configuration.alerts.path : configuration.summaries.path
        }
        var filter = Tail.Filter()
        filter.park = park
        filter.pillar = pillar
        filter.rule = rule
        if let severity {
            guard let value = Severity(rawValue: severity) else {
                throw ValidationError("--severity: expected info, warning or critical")
            }
            filter.minimumSeverity = value
        }
        if let since {
            if let time = RFC3339.parse(Array(since.utf8)) {
                filter.since = time
            } else if let seconds = TimeText.seconds(since) {
                filter.since = EventTime(milliseconds: WallClock.now().milliseconds - Int64(seconds * 1000))
            } else {
                throw ValidationError("--since: expected RFC 3339 or a duration such as 1h, found '\(since)'")
            }
        }
        let tail = Tail(kind: kind, path: path!, filter: filter, json: json, colour: !json && isatty(1) != 0)
        // Unbuffered: each line reaches a pipe as soon as it is read.
        let out = FileHandle.standardOutput
        for line in tail.history() { out.write(Data((line + "\n").utf8)) }
        if noFollow { return }
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let stopped = StopFlag()
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stopped.set() }
            source.resume()
            return source
        }
        tail.follow(emit: { out.write(Data(($0 + "\n").utf8)) }, stop: { stopped.isSet })
        withExtendedLifetime(sources) {}
    }
}

/// Set by SIGTERM or SIGINT, read by `tail`'s loop.
final class StopFlag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Read the gateway's history: per-series rollups, or compliance records, over a period.",
        discussion: """
            parkd query 'bau-bang/*/emissions/pm25' --from 2026-11-01 --to 2026-12-01 --resolution 1d
            parkd query --compliance --rule qcvn05-pm25-24h --park bau-bang --from 2026-01-01
            """)

    @Argument(help: "Series as park/zone/pillar/kind/sensor; parts may be * globs, fewer parts match any rest.")
    var series: String = "*"

    @Option(name: [.short, .long], help: "The configuration (its history.path and utc_offset).")
    var config: String = "/etc/parkd/parkd.yaml"

    @Option(help: "Read this store instead of the configuration's history.path.") var store: String?
    @Option(help: "From (RFC 3339, a date, or a duration ago such as 7d). Default: 24 h before --to.") var from: String?
    @Option(help: "To, exclusive (as --from). Default: now.") var to: String?
    @Option(help: "Re-aggregate to this resolution (a multiple of the stored one: 1h, 1d, ...).") var resolution:
        String?
    @Option(help: "csv or json (one object a line).") var format: String = "csv"
    @Flag(help: "Compliance records (JSON lines) instead of rollups.") var compliance = false
    @Option(help: "With --compliance: only this rule.") var rule: String?
    @Option(help: "With --compliance: only this park.") var park: String?

    func run() throws {
        let configuration = try loadOrExit(config)
        guard format == "csv" || format == "json" else {
            throw ValidationError("expected csv or json, found '\(format)'")
        }
        let reader = try openHistory(configuration, store: store, command: "query")
        do {
            let query = try HistoryQuery(
                series: series, from: from, to: to, resolution: resolution,
                storedResolution: configuration.history.resolutionMilliseconds, now: WallClock.now(),
                utcOffsetMinutes: configuration.summaries.utcOffsetMinutes)
            if compliance {
                for line in try reader.compliance(rule: rule, park: park, from: query.from, to: query.to) {
                    print(line)
                }
                return
            }
            let rows = try reader.rollups(
                matching: query.matcher, from: query.from, to: query.to, resolution: query.resolution)
            if format == "csv" { print(reader.csvHeader()) }
            for row in rows { print(format == "csv" ? reader.csv(row) : reader.json(row)) }
        } catch {
            throw commandFailure("query", error)
        }
    }
}

/// The history store a command reads: `--store`, else the configuration's `history.path`.
func openHistory(_ configuration: DaemonConfiguration, store: String?, command: String) throws -> HistoryReader {
    guard let path = store ?? configuration.history.path else {
        throw ValidationError("the configuration has no history store (history.path: off); give --store")
    }
    do {
        return try HistoryReader(path: path, utcOffsetMinutes: configuration.summaries.utcOffsetMinutes)
    } catch {
        throw commandFailure(command, error)
    }
}

/// A command's error on standard error, and exit status 2.
func commandFailure(_ command: String, _ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("parkd \(command): \(error)\n".utf8))
    return ExitCode(2)
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Write a park's daily compliance report (HTML, and PDF when Chromium is installed) from the history store.")

    @Option(help: "The park.") var park: String
    @Option(help: "The local day, e.g. 2026-11-23.") var day: String
    @Option(name: [.short, .long], help: "The configuration (its history.path and utc_offset).")
    var config: String = "/etc/parkd/parkd.yaml"
    @Option(help: "Read this store instead of the configuration's history.path.") var store: String?
    @Option(help: "The folder to write into.") var out: String = "."
    @Flag(help: "HTML only, no PDF.") var noPdf = false

    func run() throws {
        let configuration = try loadOrExit(config)
        let reader = try openHistory(configuration, store: store, command: "report")
        do {
            let written = try DailyReport(reader: reader, park: park, day: day).write(
                to: out, pdf: !noPdf, generated: WallClock.now())
            print(written.html)
            if let pdf = written.pdf { print(pdf) }
            if let note = written.note { FileHandle.standardError.write(Data("parkd report: \(note)\n".utf8)) }
        } catch {
            throw commandFailure("report", error)
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
        print(configuration.limitsInForce(at: WallClock.now()), terminator: "")
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
