import Foundation
import ParkConfig

#if canImport(Glibc)
    import Glibc
#endif

/// Where a replay writes: a folder of its own (or the files named on the command line), never
/// the live daemon's outputs. `parkd replay FEED -c /etc/parkd/parkd.yaml` must not truncate
/// the running gateway's summaries or alerts.
package struct ReplayOutputs: Sendable {
    package var folder: String
    package var summaries: String?
    package var alerts: String?
    package var compliance: String?
    /// A replay writes history only when asked: the live store is not its to fill.
    package var history: String?
    package var reports: String?

    package init(
        folder: String, summaries: String? = nil, alerts: String? = nil, compliance: String? = nil,
        history: String? = nil, reports: String? = nil
    ) {
        self.folder = folder
        self.summaries = summaries
        self.alerts = alerts
        self.compliance = compliance
        self.history = history
        self.reports = reports
    }

    /// Why a replay's outputs are refused before it starts.
    package enum Refusal: Error, CustomStringConvertible {
        /// An output would be a file the configuration names for a live daemon.
        case liveFile(String)
        /// Two outputs would write one file: their lines would interleave (summary lines are
        /// written on a queue of their own, so even their order would vary).
        case sharedPath(String)

        package var description: String {
            switch self {
            case .liveFile(let path):
                "refusing to overwrite \(path), which the configuration names for a live daemon; choose --out, or pass --overwrite-live"
            case .sharedPath(let path):
                "two outputs would write one file, \(path); give each its own path"
            }
        }
    }

    /// The configuration with its outputs moved here; throws when one would be a live file,
    /// or two would be one file.
    package func apply(to live: DaemonConfiguration, overwriteLive: Bool) throws(Refusal) -> DaemonConfiguration {
        let liveFiles = Set(Self.files(live).map(Self.identity))
        var c = live
        c.summaries.path = summaries ?? folder + "/summaries.jsonl"
        c.summaries.seriesPath = c.summaries.seriesPath.map { _ in folder + "/series.jsonl" }
        c.summaries.compliancePath = compliance ?? folder + "/compliance.jsonl"
        c.history.path = history
        c.history.reportsDirectory = reports
        c.alerts.path = alerts ?? folder + "/alerts.jsonl"
        c.alerts.log = c.alerts.log.map { _ in alerts.map { $0 + ".log" } ?? folder + "/alerts.log" }
        if !overwriteLive, let clash = Self.files(c).first(where: { liveFiles.contains(Self.identity($0)) }) {
            throw .liveFile(clash)
        }
        var seen = Set<String>()
        for path in Self.files(c) + [c.history.path].compactMap({ $0 }) where !seen.insert(Self.identity(path)).inserted
        {
            throw .sharedPath(path)
        }
        return c
    }

    /// A path as the file system resolves it, so that two spellings of one file compare
    /// equal: `.` and `..` taken out, then symlinks resolved, the file's own when it exists,
    /// else its folder's (a folder reached through a link to the live one is the live one).
    /// Two hard links to one file still compare unequal.
    static func identity(_ path: String) -> String {
        let standard = URL(fileURLWithPath: path).standardizedFileURL.path
        func resolved(_ path: String) -> String? {
            guard let real = realpath(path, nil) else { return nil }
            defer { free(real) }
            return String(cString: real)
        }
        if let file = resolved(standard) { return file }
        let url = URL(fileURLWithPath: standard)
        guard let folder = resolved(url.deletingLastPathComponent().path) else { return standard }
        return (folder == "/" ? "" : folder) + "/" + url.lastPathComponent
    }

    private static func files(_ c: DaemonConfiguration) -> [String] {
        [c.summaries.path, c.summaries.seriesPath, c.alerts.path, c.alerts.log, c.summaries.compliancePath]
            .compactMap { $0 }
    }
}
