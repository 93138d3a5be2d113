import Dispatch
import Foundation
import Logging
import MQTTClient
import TelemetryCore

/// `parkd run`: connects, subscribes, ingests, and writes one summary line per interval
/// until SIGTERM or SIGINT, then stops ingest, writes the last (partial) interval, disconnects.
public final class Daemon: @unchecked Sendable {
    public let configuration: DaemonConfiguration
    private let logger: Logger
    public let pipeline: IngestPipeline
    private let stopSignal = DispatchSemaphore(value: 0)
    private var signalSources: [DispatchSourceSignal] = []

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        pipeline = IngestPipeline(
            router: TopicRouter(configuration.topicPatterns),
            decoder: JSONReadingDecoder(fields: configuration.payload.fields),
            limits: .init(maxPayloadBytes: configuration.payload.maxBytes, maxSeries: configuration.maxSeries),
            logger: logger)
    }

    /// Asks a running daemon to shut down (what SIGTERM does).
    public func stop() { stopSignal.signal() }

    public func installSignalHandlers() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [logger, stopSignal] in
                logger.notice("received \(number == SIGTERM ? "SIGTERM" : "SIGINT"); shutting down")
                stopSignal.signal()
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Runs until `stop()` or a signal. Throws only on what prevents starting at all.
    public func run() throws {
        let summaries = try LineFile(path: configuration.summaries.path)
        let pipeline = self.pipeline
        let client = try MQTTClient(
            configuration: configuration.clientConfiguration,
            logger: logger,
            onMessage: { message in pipeline.ingest(message, arrival: WallClock.now()) })
        let s = configuration.summaries
        logger.info(
            "parkd starting",
            metadata: [
                "config": "\(configuration.file)", "broker": "\(configuration.broker.url)",
                "summaries": "\(s.path)", "interval": "\(DurationText.format(s.interval))",
            ])
        client.start()

        var intervalStart = WallClock.now()
        while true {
            let boundary = WallClock.nextBoundary(
                after: WallClock.now(), intervalSeconds: s.interval, utcOffsetMinutes: s.utcOffsetMinutes)
            let wait = max(0, Double(boundary.milliseconds - WallClock.now().milliseconds) / 1000)
            if stopSignal.wait(timeout: .now() + wait) == .success { break }
            writeSummary(to: summaries, from: intervalStart, to: boundary)
            intervalStart = boundary
        }

        client.stop()
        // The partial interval up to shutdown is written too: nothing counted is lost.
        writeSummary(to: summaries, from: intervalStart, to: WallClock.now())
        summaries.sync()
        summaries.close()
        let totals = pipeline.totals
        logger.info(
            "parkd stopped",
            metadata: [
                "messages": "\(totals.messages)", "readings": "\(totals.readings)",
                "rejected": "\(totals.rejectedTotal)", "series": "\(pipeline.seriesCount)",
            ])
    }

    private func writeSummary(to file: LineFile, from: EventTime, to: EventTime) {
        let snapshot = pipeline.takeInterval()
        let line = SummaryFormat.line(
            snapshot, from: from, to: to, utcOffsetMinutes: configuration.summaries.utcOffsetMinutes)
        do {
            try file.append(line)
        } catch {
            logger.error("\(error)")
        }
    }
}
