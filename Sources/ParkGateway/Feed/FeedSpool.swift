import Foundation
import ParkConfig
import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// The regulator feed's files on the gateway's disk. Each cycle file is written atomically
/// into `archive/<station>/<YYYY>/<MM>/<DD>/` (kept `keepDays`) and linked into `pending/`
/// under the same path until the server has it. The folders are the queue: a restart, a
/// crash or a long outage finds every file not yet sent still in `pending/`, and a file is
/// only ever removed from it after the server took it.
package struct FeedSpool {
    package let root: String
    var archive: String { root + "/archive" }
    var pending: String { root + "/pending" }

    package init(root: String) { self.root = root }

    /// Writes one cycle's file; throws (disk full, no permission) leaving nothing half-written.
    /// False when the cycle's file exists (written before a restart): it is never replaced.
    package func write(relativePath: String, text: String) throws(DaemonError) -> Bool {
        let archived = archive + "/" + relativePath
        if access(archived, F_OK) == 0 { return false }
        // Queued first, archived second: a file is in the archive only once it is queued, so
        // a write that fails half-way is retried whole, never taken for one written before.
        let queued = pending + "/" + relativePath
        try AtomicFile.write(Array(text.utf8), to: queued, mode: 0o644)
        let folder = (archived as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            unlink(queued)
            throw .output(path: archived, reason: "cannot create its directory: \(error.localizedDescription)")
        }
        guard link(queued, archived) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(queued)
            throw .output(path: archived, reason: reason)
        }
        return true
    }

    /// Files waiting for the server, oldest cycle first (by the stamp that ends each name; a
    /// tie goes by station), as paths relative to `pending/`.
    package func pendingFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: pending) else { return [] }
        var files: [String] = []
        while let next = walker.nextObject() as? String {
            if next.hasSuffix(".txt") { files.append(next) }
        }
        return files.sorted { (Self.stamp($0), $0) < (Self.stamp($1), $1) }
    }

    /// `YYYYMMDDhhmmss` from `…_<stamp>.txt`.
    static func stamp(_ path: String) -> Substring {
        path.dropLast(4).suffix(14)
    }

    /// The server took it: out of the queue (the archive keeps it).
    package func sent(_ relativePath: String) {
        unlink(pending + "/" + relativePath)
    }

    /// Removes archived days older than `days` before `now`'s local day (whole day folders), and
    /// empty folders left in `pending/`. Files still pending are never removed.
    package func prune(keepDays days: Int, now: EventTime, calendar: LocalCalendar) -> Int {
        let cutoffDay = calendar.day(now) - Int64(days)
        var removed = 0
        let fm = FileManager.default
        for station in (try? fm.contentsOfDirectory(atPath: archive)) ?? [] {
            for year in (try? fm.contentsOfDirectory(atPath: "\(archive)/\(station)")) ?? [] {
                for month in (try? fm.contentsOfDirectory(atPath: "\(archive)/\(station)/\(year)")) ?? [] {
                    for day in (try? fm.contentsOfDirectory(atPath: "\(archive)/\(station)/\(year)/\(month)")) ?? [] {
                        guard let y = Int(year), let m = Int(month), let d = Int(day),
                            let date = RFC3339.parse(
                                Array(String(format: "%04d-%02d-%02dT12:00:00Z", y, m, d).utf8)),
                            calendar.day(date) < cutoffDay
                        else { continue }
                        let relative = "\(station)/\(year)/\(month)/\(day)"
                        if let still = try? fm.contentsOfDirectory(atPath: pending + "/" + relative), !still.isEmpty {
                            continue
                        }
                        if (try? fm.removeItem(atPath: archive + "/" + relative)) != nil { removed += 1 }
                    }
                }
            }
        }
        // Day folders of pending/ emptied by uploads, before today (today's is still filling).
        let today = calendar.day(now)
        for station in (try? fm.contentsOfDirectory(atPath: pending)) ?? [] {
            for year in (try? fm.contentsOfDirectory(atPath: "\(pending)/\(station)")) ?? [] {
                for month in (try? fm.contentsOfDirectory(atPath: "\(pending)/\(station)/\(year)")) ?? [] {
                    let monthPath = "\(pending)/\(station)/\(year)/\(month)"
                    for day in (try? fm.contentsOfDirectory(atPath: monthPath)) ?? [] {
                        guard let y = Int(year), let m = Int(month), let d = Int(day),
                            let date = RFC3339.parse(Array(String(format: "%04d-%02d-%02dT12:00:00Z", y, m, d).utf8)),
                            calendar.day(date) < today,
                            (try? fm.contentsOfDirectory(atPath: monthPath + "/" + day))?.isEmpty == true
                        else { continue }
                        rmdir(monthPath + "/" + day)
                    }
                }
            }
        }
        return removed
    }
}
