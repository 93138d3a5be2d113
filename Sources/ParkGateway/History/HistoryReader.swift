import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the history store (read-only; a live parkd may be writing it): per-series rollups
/// over a period at the stored resolution or a coarser one, and compliance records.
///
/// `@unchecked Sendable`: it wraps SQLite's C handle (not Sendable), every use of which is
/// under `lock`; it holds no other mutable state.
public final class HistoryReader: @unchecked Sendable {
    private let database: SQLiteDatabase
    private let lock = NSLock()
    public let utcOffsetMinutes: Int

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        /// The request asks for more than the reader answers at once (narrow it).
        public var tooLarge = false
    }

    public init(path: String, utcOffsetMinutes: Int) throws(Failure) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw Failure(description: "no history store at \(path) (history.path; parkd run writes it)")
        }
        do {
            database = try SQLiteDatabase(path: path, readOnly: true)
        } catch {
            throw Failure(description: error.message)
        }
        self.utcOffsetMinutes = utcOffsetMinutes
    }

    /// Series matching `matcher` with rollups in [from, to), re-aggregated to `resolution`
    /// (aligned to local time; 0: as stored), in series then time order.
    public func rollups(
        matching matcher: SeriesMatcher, from: Int64, to: Int64, resolution: Int64, maxRows: Int = .max
    ) throws(Failure) -> [Rollup] {
        lock.lock()
        defer { lock.unlock() }
        do {
            let series = try database.prepare("SELECT id, park, zone, pillar, kind, sensor FROM series")
            var wanted: [Int64: SeriesID] = [:]
            var allSeries = 0
            while try series.step() {
                allSeries += 1
                guard let pillar = Pillar(rawValue: series.text(3)) else { continue }
                let id = SeriesID(
                    park: series.text(1), zone: series.text(2), pillar: pillar, kind: series.text(4),
                    sensor: series.text(5))
                if matcher.matches(id) { wanted[series.int(0)] = id }
            }
            guard !wanted.isEmpty else { return [] }
            // The series filter goes into SQL when it picks few (ids from the table, integers:
            // nothing of the request reaches the text), so SQLite skips the others' rows itself.
            let filter =
                wanted.count <= 1_000 && wanted.count < allSeries
                ? " AND series IN (\(wanted.keys.sorted().map(String.init).joined(separator: ",")))" : ""
            let rows = try database.prepare(
                """
                SELECT start_ms, series, count, mean, min, max, last, leq, increase FROM rollups
                WHERE start_ms >= ? AND start_ms < ?\(filter) ORDER BY start_ms
                """)
            rows.bind(1, from)
            rows.bind(2, to)
            let calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
            var merged: [Int64: [Int64: Rollup]] = [:]
            var read = 0
            while try rows.step() {
                guard let id = wanted[rows.int(1)] else { continue }
                read += 1
                if read > maxRows {
                    rows.reset()
                    throw Failure(
                        description:
                            "more than \(maxRows) stored rows match; narrow the series or the period", tooLarge: true)
                }
                let count = Int(rows.int(2))
                let mean = rows.double(3) ?? 0
                let start =
                    resolution > 0
                    ? calendar.floor(EventTime(milliseconds: rows.int(0)), step: resolution) : rows.int(0)
                let row = Rollup(
                    series: id, start: start, count: count, sum: mean * Double(count), min: rows.double(4) ?? .nan,
                    max: rows.double(5) ?? .nan, last: rows.double(6) ?? .nan,
                    energy: rows.double(7).map { pow(10, $0 / 10) * Double(count) }, increase: rows.double(8))
                if var into = merged[rows.int(1)]?[start] {
                    // Rows come in time order: the later row's last value is the interval's last.
                    into.count += row.count
                    into.sum += row.sum
                    into.min = Swift.min(into.min, row.min)
                    into.max = Swift.max(into.max, row.max)
                    into.last = row.last
                    if let e = row.energy { into.energy = (into.energy ?? 0) + e }
                    if let i = row.increase { into.increase = (into.increase ?? 0) + i }
                    merged[rows.int(1), default: [:]][start] = into
                } else {
                    merged[rows.int(1), default: [:]][start] = row
                }
            }
            return merged.values.flatMap { $0.values }.sorted {
                ($0.series, $0.start) < ($1.series, $1.start)
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as SQLiteDatabase.Failure {
            throw Failure(description: error.message)
        } catch {
            throw Failure(description: "\(error)")
        }
    }

    /// Compliance records (their JSON lines) of periods starting in [from, to), by rule and park.
    public func compliance(rule: String?, park: String?, from: Int64, to: Int64) throws(Failure) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        do {
            let rows = try database.prepare(
                """
                SELECT c.line FROM compliance c JOIN series s ON s.id = c.series
                WHERE c.start_ms >= ? AND c.start_ms < ? AND (?3 IS NULL OR c.rule = ?3) AND (?4 IS NULL OR s.park = ?4)
                ORDER BY c.start_ms, c.rule, s.park, s.zone, s.kind, s.sensor
                """)
            rows.bind(1, from)
            rows.bind(2, to)
            rows.bind(3, rule)
            rows.bind(4, park)
            var lines: [String] = []
            while try rows.step() { lines.append(rows.text(0)) }
            return lines
        } catch {
            throw Failure(description: error.message)
        }
    }

    /// Alert lines with their time in [from, to), in time order.
    package func lines(alertsFrom from: Int64, to: Int64) throws(Failure) -> [String] {
        try lines("SELECT line FROM alerts WHERE at_ms >= ? AND at_ms < ? ORDER BY at_ms", from, to, nil)
    }

    /// Summary lines of one period starting in [from, to), in time order.
    package func summaryLines(period: String, from: Int64, to: Int64) throws(Failure) -> [String] {
        try lines(
            "SELECT line FROM summaries WHERE from_ms >= ? AND from_ms < ? AND period = ? ORDER BY from_ms", from, to,
            period)
    }

    private func lines(_ sql: String, _ from: Int64, _ to: Int64, _ text: String?) throws(Failure) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        do {
            let rows = try database.prepare(sql)
            rows.bind(1, from)
            rows.bind(2, to)
            if let text { rows.bind(3, text) }
            var found: [String] = []
            while try rows.step() { found.append(rows.text(0)) }
            return found
        } catch {
            throw Failure(description: error.message)
        }
    }

    /// Every series the store knows in `park`, and those with a rollup in [from, to).
    package func series(park: String, from: Int64, to: Int64) throws(Failure) -> (
        all: [SeriesID], reporting: Set<SeriesID>
    ) {
        lock.lock()
        defer { lock.unlock() }
        do {
            let rows = try database.prepare(
                """
                SELECT s.zone, s.pillar, s.kind, s.sensor,
                  EXISTS(SELECT 1 FROM rollups r WHERE r.series = s.id AND r.start_ms >= ? AND r.start_ms < ?)
                FROM series s WHERE s.park = ? ORDER BY s.pillar, s.kind, s.zone, s.sensor
                """)
            rows.bind(1, from)
            rows.bind(2, to)
            rows.bind(3, park)
            var all: [SeriesID] = []
            var reporting = Set<SeriesID>()
            while try rows.step() {
                guard let pillar = Pillar(rawValue: rows.text(1)) else { continue }
                let id = SeriesID(
                    park: park, zone: rows.text(0), pillar: pillar, kind: rows.text(2), sensor: rows.text(3))
                all.append(id)
                if rows.int(4) != 0 { reporting.insert(id) }
            }
            return (all, reporting)
        } catch {
            throw Failure(description: error.message)
        }
    }

    /// One rollup as a CSV row or a JSON object (times in the park's offset).
    public func csvHeader() -> String { "series,from,count,mean,min,max,last,leq,increase" }

    public func csv(_ r: Rollup) -> String {
        func n(_ v: Double?) -> String { v.map { $0.isFinite ? JSONLine.number($0) : "" } ?? "" }
        return [
            r.series.description, RFC3339.format(EventTime(milliseconds: r.start), offsetMinutes: utcOffsetMinutes),
            String(r.count), n(r.mean), n(r.min), n(r.max), n(r.last), n(r.leq), n(r.increase),
        ].joined(separator: ",")
    }

    public func json(_ r: Rollup) -> String {
        var line = JSONLine()
        line.add(series: r.series)
        line.add("from", RFC3339.format(EventTime(milliseconds: r.start), offsetMinutes: utcOffsetMinutes))
        line.add(figures: r)
        return line.finished()
    }
}
