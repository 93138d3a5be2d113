import Logging
import TelemetryCore

/// Writes one summary line per interval boundary passed, aligned to the park's local time.
/// `parkd run` drives it with the wall clock, `parkd replay` with the feed's arrival times, so
/// both write the same lines for the same traffic.
final class SummaryScheduler {
    private let pipeline: IngestPipeline
    private let file: LineFile
    private let intervalSeconds: Double
    private let utcOffsetMinutes: Int
    private let logger: Logger
    private var intervalStart: EventTime?
    private var nextBoundary = EventTime(milliseconds: .max)
    /// Also handed each line (MQTT publish in `run`).
    var onLine: ((String) -> Void)?

    init(pipeline: IngestPipeline, file: LineFile, intervalSeconds: Double, utcOffsetMinutes: Int, logger: Logger) {
        self.pipeline = pipeline
        self.file = file
        self.intervalSeconds = intervalSeconds
        self.utcOffsetMinutes = utcOffsetMinutes
        self.logger = logger
    }

    /// The first boundary after `time`: when `advance` next has work.
    var boundary: EventTime { nextBoundary }

    func start(at time: EventTime) {
        intervalStart = time
        nextBoundary = WallClock.nextBoundary(after: time, intervalSeconds: intervalSeconds, utcOffsetMinutes: utcOffsetMinutes)
    }

    /// Writes the lines of every interval that ended at or before `time`.
    func advance(to time: EventTime) {
        if intervalStart == nil { start(at: time) }
        while time >= nextBoundary, let from = intervalStart {
            write(from: from, to: nextBoundary)
            intervalStart = nextBoundary
            nextBoundary = EventTime(milliseconds: nextBoundary.milliseconds + Int64(intervalSeconds * 1000))
        }
    }

    /// Writes the last, partial interval up to `time`.
    func finish(at time: EventTime) {
        advance(to: time)
        if let from = intervalStart { write(from: from, to: max(from, time)) }
        intervalStart = nil
        file.sync()
    }

    private func write(from: EventTime, to: EventTime) {
        let line = SummaryFormat.line(
            pipeline.takeInterval(from: from, to: to), from: from, to: to, utcOffsetMinutes: utcOffsetMinutes)
        do {
            try file.append(line)
        } catch {
            logger.error("\(error)")
        }
        onLine?(line)
    }
}
