import Dispatch
import Logging
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// Writes one summary line per interval boundary passed, for each schedule (by default every
/// minute, hour and day), aligned to the park's local time. `parkd run` drives it with the
/// wall clock, `parkd replay` with the feed's arrival times, so both write the same lines for
/// the same traffic. When boundaries coincide, the shorter schedule's line comes first.
package final class SummaryScheduler {
    private struct Schedule {
        package let seconds: Double
        package let period: String
        package var start: EventTime?
        package var next = EventTime(milliseconds: .max)
    }

    private let pipeline: any IntervalSource
    private var file: LineFile
    /// Per-series detail for the shortest schedule (`summaries.series_path`), when asked for.
    private var seriesFile: LineFile?
    private let utcOffsetMinutes: Int
    private let logger: Logger
    private var schedules: [Schedule]
    /// Compliance records (`compliance.path`), written as the shortest schedule closes.
    private var complianceFile: LineFile?
    /// Also handed each line with the values it was written from (MQTT publish, standard
    /// output and the status page in `run`).
    package var onLine: ((SummaryLine) -> Void)?
    /// The gateway's history store, when configured: each interval's rollups, records and lines.
    package var history: HistoryWriter?
    /// Called when a day-long (or longer) interval closes at local midnight, with its bounds
    /// and the parks in it: the daily reports are written then.
    package var onDayClosed: ((EventTime, EventTime, [String]) -> Void)?
    /// Handed each compliance record's line (MQTT publish and the API in `run`).
    package var onCompliance: ((ComplianceRecord, String) -> Void)?
    /// Where the lines are formatted and written when only the files take them (no history,
    /// no callback, no per-series detail): a serial queue, in order, off the thread that takes
    /// the intervals (a replay's ingesting thread, whose time bounds the replay's speed). Nil:
    /// at once.
    package var writer: DispatchQueue?
    /// Intervals handed to `writer` and not yet written, at most 16 (an interval's figures
    /// may hold every series): taking the next waits for room. Made at 0 and signalled up
    /// (libdispatch traps on a semaphore freed below its starting value).
    private let writerRoom = DispatchSemaphore(value: 0)

    package init(
        pipeline: any IntervalSource, file: LineFile, seriesFile: LineFile? = nil, complianceFile: LineFile? = nil,
        intervals: [Double], utcOffsetMinutes: Int, logger: Logger
    ) {
        self.pipeline = pipeline
        self.complianceFile = complianceFile
        self.file = file
        self.seriesFile = seriesFile
        self.utcOffsetMinutes = utcOffsetMinutes
        self.logger = logger
        schedules = intervals.map { Schedule(seconds: $0, period: TimeText.format($0)) }
        for _ in 0..<16 { writerRoom.signal() }
    }

    /// The next boundary of any schedule: when `advance` next has work.
    package var boundary: EventTime { schedules.map(\.next).min() ?? EventTime(milliseconds: .max) }

    /// Whether `advance(to: time)` would write or re-anchor anything.
    package func hasWork(at time: EventTime) -> Bool {
        schedules.contains { schedule in schedule.start.map { time < $0 || time >= schedule.next } ?? true }
    }

    package func start(at time: EventTime) {
        for k in schedules.indices {
            schedules[k].start = time
            schedules[k].next = WallClock.nextBoundary(
                after: time, intervalSeconds: schedules[k].seconds, utcOffsetMinutes: utcOffsetMinutes)
        }
    }

    /// Writes the lines of every interval that ended at or before `time`. Intervals passed
    /// with nothing in them (an idle feed, a clock stepped forward) make one gap line per
    /// schedule, not one line each; a clock stepped back re-anchors the schedules at `time`
    /// so that summaries go on (what was counted is written with the next line).
    package func advance(to time: EventTime) {
        if schedules.first?.start == nil { start(at: time) }
        for k in schedules.indices {
            guard let from = schedules[k].start, time < from else { continue }
            logger.warning(
                "clock stepped back from \(from) to \(time); \(schedules[k].period) summaries continue from here")
            schedules[k].start = time
            schedules[k].next = WallClock.nextBoundary(
                after: time, intervalSeconds: schedules[k].seconds, utcOffsetMinutes: utcOffsetMinutes)
        }
        while true {
            // The earliest pending boundary, shorter schedules first on a tie.
            guard
                let k = schedules.indices.filter({ time >= schedules[$0].next }).min(by: {
                    (schedules[$0].next, $0) < (schedules[$1].next, $1)
                }), let from = schedules[k].start
            else { return }
            let to = schedules[k].next
            write(k, from: from, to: to)
            let step = Int64(schedules[k].seconds * 1000)
            // The last boundary at or before `time`: every interval in between is empty.
            let last = EventTime(
                milliseconds: WallClock.nextBoundary(
                    after: time, intervalSeconds: schedules[k].seconds, utcOffsetMinutes: utcOffsetMinutes
                ).milliseconds - step)
            if last.milliseconds - to.milliseconds >= 2 * step {
                write(k, from: to, to: last, gap: Int((last.milliseconds - to.milliseconds) / step))
                schedules[k].start = last
            } else {
                schedules[k].start = to
            }
            schedules[k].next = EventTime(milliseconds: schedules[k].start!.milliseconds + step)
        }
    }

    /// Writes to another file from now on (a reloaded configuration), closing the old one.
    package func replaceFile(with newFile: LineFile) {
        waitForWriter()
        file.sync()
        file.close()
        file = newFile
    }

    /// Writes per-series detail to another file (or none) from now on.
    package func replaceSeriesFile(with newFile: LineFile?) {
        waitForWriter()
        seriesFile?.sync()
        seriesFile?.close()
        seriesFile = newFile
    }

    /// Writes compliance records to another file (or none) from now on.
    package func replaceComplianceFile(with newFile: LineFile?) {
        waitForWriter()
        complianceFile?.sync()
        complianceFile?.close()
        complianceFile = newFile
    }

    /// Waits until `writer` has written every interval handed to it.
    package func waitForWriter() {
        writer?.sync {}
    }

    package func closeFile() {
        waitForWriter()
        file.close()
        seriesFile?.close()
        complianceFile?.close()
    }

    /// The summary files: summaries, per-series detail, compliance records.
    private var files: [LineFile] { [file, seriesFile, complianceFile].compactMap { $0 } }

    /// Writes the lines the file refused before; the file's error, or nil when all is written.
    package func retryFile() -> String? {
        waitForWriter()
        do {
            for file in files { try file.retry() }
            return nil
        } catch {
            let pending = files.reduce(0) { $0 + $1.backlog.pending }
            return "\(error); \(pending) summary and compliance lines kept for retry"
        }
    }

    /// For a replay's end: nil once every line of the summary files is written, else why not
    /// (a full disk). The lines a file refused get one more try; any still waiting, or dropped
    /// past the file's backlog cap, make an error that names the file, so that a replay does
    /// not end as if its outputs were whole.
    package func unwritten() -> DaemonError? {
        waitForWriter()
        for file in files {
            try? file.retry()
            let backlog = file.backlog
            guard backlog.pending > 0 || backlog.dropped > 0 else { continue }
            return .output(
                path: file.path,
                reason:
                    "\(backlog.pending) lines not written and \(backlog.dropped) dropped (\(backlog.error?.reason ?? "no error kept"))"
            )
        }
        return nil
    }

    /// Writes the last, partial interval of each schedule up to `time`. `final`: the feed is
    /// over (a replay's end), so compliance periods that ended close without waiting out the
    /// lateness; a daemon that stops keeps them open in its state file instead.
    package func finish(at time: EventTime, final: Bool = false) {
        advance(to: time)
        for k in schedules.indices {
            if let from = schedules[k].start { write(k, from: from, to: max(from, time), final: final) }
            schedules[k].start = nil
        }
        waitForWriter()
        file.sync()
        seriesFile?.sync()
        complianceFile?.sync()
    }

    private func write(_ k: Int, from: EventTime, to: EventTime, gap: Int? = nil, final: Bool = false) {
        let details = k == 0 && seriesFile != nil
        let snapshot = pipeline.takeInterval(schedule: k, from: from, to: to, details: details, final: final)
        let period = schedules[k].period
        // Not with per-series detail: an interval's figures then hold every series, and 16 of
        // them waiting could be gigabytes at 100 000 series.
        if let writer, !details, history == nil, onLine == nil, onCompliance == nil, onDayClosed == nil {
            let (file, complianceFile) = (file, complianceFile)
            let (offset, logger, room) = (utcOffsetMinutes, logger, writerRoom)
            room.wait()
            writer.async {
                Self.writeLines(
                    snapshot, period: period, from: from, to: to, gap: gap, offset: offset, file: file,
                    seriesFile: nil, logger: logger)
                for record in ComplianceFormat.ordered(snapshot.compliance) {
                    Self.writeCompliance(
                        ComplianceFormat.json(record, utcOffsetMinutes: offset), to: complianceFile, logger: logger)
                }
                room.signal()
            }
            return
        }
        // In place: after what the writer still holds, so that the files keep the order.
        waitForWriter()
        let line = Self.writeLines(
            snapshot, period: period, from: from, to: to, gap: gap, offset: utcOffsetMinutes, file: file,
            seriesFile: details ? seriesFile : nil, logger: logger)
        // The store keeps hourly and longer lines (the rollups hold the detail): minute lines
        // of ten parks would be gigabytes a year.
        let keep = schedules[k].seconds >= 3600 || k == schedules.count - 1
        var batch = HistoryBatch(
            rollups: snapshot.rollups, summaries: keep ? [(schedules[k].period, from.milliseconds, line)] : [],
            at: to.milliseconds)
        if !snapshot.compliance.isEmpty {
            for record in ComplianceFormat.ordered(snapshot.compliance) {
                let text = ComplianceFormat.json(record, utcOffsetMinutes: utcOffsetMinutes)
                batch.compliance.append((record, text))
                Self.writeCompliance(text, to: complianceFile, logger: logger)
                onCompliance?(record, text)
            }
        }
        history?.submit(batch)
        onLine?(SummaryLine(text: line, period: schedules[k].period, to: to, parks: snapshot.parks))
        if schedules[k].seconds == 86400, gap == nil, to.milliseconds - from.milliseconds == 86_400_000 {
            onDayClosed?(from, to, Array(Set(snapshot.parks.map(\.park))).sorted())
        }
    }

    /// An interval's summary line, and with `seriesFile` its per-series lines, formatted and
    /// written; returns the summary line.
    @discardableResult
    private static func writeLines(
        _ snapshot: IngestPipeline.Snapshot, period: String, from: EventTime, to: EventTime, gap: Int?, offset: Int,
        file: LineFile, seriesFile: LineFile?, logger: Logger
    ) -> String {
        let line = SummaryFormat.line(snapshot, period: period, from: from, to: to, utcOffsetMinutes: offset, gap: gap)
        do {
            try file.append(line)
        } catch {
            logger.error("\(error)")
        }
        if let seriesFile {
            let lines = SummaryFormat.seriesLines(
                snapshot, period: period, from: from, to: to, utcOffsetMinutes: offset)
            do {
                for line in lines { try seriesFile.append(line) }
            } catch {
                logger.error("\(error)")
            }
        }
        return line
    }

    private static func writeCompliance(_ text: String, to file: LineFile?, logger: Logger) {
        do {
            try file?.append(text)
        } catch {
            logger.error("\(error)")
        }
    }
}

/// A summary line as written, and the values it holds.
package struct SummaryLine: Sendable {
    package var text: String
    package var period: String
    package var to: EventTime
    package var parks: [ParkSummary]
}

/// Where a summary's figures come from: one pipeline, or the shards of a parallel replay.
package protocol IntervalSource: AnyObject {
    func takeInterval(schedule k: Int, from: EventTime?, to: EventTime?, details: Bool, final: Bool)
        -> IngestPipeline.Snapshot
}

extension IngestPipeline: IntervalSource {}
