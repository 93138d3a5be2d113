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
        do throws(DaemonError) {
            let folder = try AtomicFile.makeFolder(of: archived)
            guard link(queued, archived) == 0 else {
                throw .output(path: archived, reason: String(cString: strerror(errno)))
            }
            try AtomicFile.syncFolder(folder)
        } catch {
            unlink(queued)
            unlink(archived)
            throw error
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
    /// empty day folders left in `pending/`. Files still pending are never removed.
    package func prune(keepDays days: Int, now: EventTime, calendar: LocalCalendar) -> Int {
        let today = calendar.day(now)
        var removed = 0
        for (relative, day) in Self.dayFolders(under: archive) where day < today - Int64(days) {
            // A day with a file still pending stays whole.
            if let still = try? FileManager.default.contentsOfDirectory(atPath: pending + "/" + relative),
                !still.isEmpty
            {
                continue
            }
            if (try? FileManager.default.removeItem(atPath: archive + "/" + relative)) != nil { removed += 1 }
        }
        // Emptied by uploads, before today (today's is still filling): rmdir leaves a full one.
        for (relative, day) in Self.dayFolders(under: pending) where day < today { rmdir(pending + "/" + relative) }
        return removed
    }

    /// The `<station>/<YYYY>/<MM>/<DD>` folders under `root`, with their local day (days since
    /// 1970-01-01, as `LocalCalendar.day` counts them).
    static func dayFolders(under root: String) -> [(relative: String, day: Int64)] {
        let fm = FileManager.default
        func list(_ path: String) -> [String] { (try? fm.contentsOfDirectory(atPath: path)) ?? [] }
        var folders: [(String, Int64)] = []
        for station in list(root) {
            for year in list("\(root)/\(station)") {
                for month in list("\(root)/\(station)/\(year)") {
                    for day in list("\(root)/\(station)/\(year)/\(month)") {
                        guard let y = Int(year), let m = Int(month), let d = Int(day) else { continue }
                        folders.append(
                            (
                                "\(station)/\(year)/\(month)/\(day)",
                                Int64(RFC3339.daysFromCivil(year: y, month: m, day: d))
                            ))
                    }
                }
            }
        }
        return folders
    }
}
