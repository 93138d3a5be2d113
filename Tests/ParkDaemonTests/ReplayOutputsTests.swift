import Foundation
import Testing

@testable import ParkConfig
@testable import ParkGateway

#if canImport(Glibc)
    import Glibc
#endif

/// A replay never truncates the live daemon's files, nor writes two outputs into one file,
/// however the paths are spelled: through `.` and `..`, or through a symbolic link.
@Suite("Replay outputs")
struct ReplayOutputsTests {
    @Test("a live file named through a linked folder is refused, and so are two outputs on one file through a link")
    func linkedPaths() throws {
        let root = NSTemporaryDirectory() + "parktelemetry-outputs-\(UUID().uuidString.prefix(8))"
        let live = root + "/var/parkd"
        let link = root + "/srv-parkd"
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(symlink(live, link) == 0)
        try "live line\n".write(toFile: live + "/alerts.jsonl", atomically: true, encoding: .utf8)
        let configuration = try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1"}
            summaries: {path: \(live)/summaries.jsonl}
            alerts: {path: \(live)/alerts.jsonl}
            """, file: root + "/parkd.yaml")
        let folder = root + "/replay"
        // The live alerts file, existing, through the link; the live summaries, not yet
        // written, through the link too (only their folder exists).
        for (summaries, alerts) in [(nil, link + "/alerts.jsonl"), (link + "/summaries.jsonl", nil)] {
            let clash = alerts ?? summaries!
            // Refused as the live file it is, named as the replay was given it.
            #expect {
                try ReplayOutputs(folder: folder, summaries: summaries, alerts: alerts)
                    .apply(to: configuration, overwriteLive: false)
            } throws: { error in
                guard case .liveFile(let path)? = error as? ReplayOutputs.Refusal else { return false }
                return path == clash
            }
        }
        // Two outputs on one new file, one spelled through the link.
        let other = root + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        #expect(symlink(other, root + "/other-link") == 0)
        #expect {
            try ReplayOutputs(
                folder: folder, summaries: other + "/both.jsonl", alerts: root + "/other-link/both.jsonl"
            ).apply(to: configuration, overwriteLive: true)
        } throws: { error in
            "\(error)".contains("two outputs would write one file")
        }
        // Distinct files are taken, the link notwithstanding.
        let taken = try ReplayOutputs(
            folder: folder, summaries: other + "/summaries.jsonl", alerts: root + "/other-link/alerts.jsonl"
        ).apply(to: configuration, overwriteLive: false)
        #expect(taken.alerts.path == root + "/other-link/alerts.jsonl")
        #expect(try String(contentsOfFile: live + "/alerts.jsonl", encoding: .utf8) == "live line\n")
    }

    @Test("a path resolves to the file the system opens: dots, a linked folder, a linked file, the root")
    func identity() throws {
        let root = NSTemporaryDirectory() + "parktelemetry-identity-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/real", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let real = ReplayOutputs.identity(root + "/real")
        #expect(symlink(root + "/real", root + "/link") == 0)
        #expect(ReplayOutputs.identity(root + "/link/new.jsonl") == real + "/new.jsonl")
        #expect(ReplayOutputs.identity(root + "/real/./sub/../new.jsonl") == real + "/new.jsonl")
        try "x\n".write(toFile: root + "/real/file.jsonl", atomically: true, encoding: .utf8)
        #expect(symlink(root + "/real/file.jsonl", root + "/alias.jsonl") == 0)
        #expect(ReplayOutputs.identity(root + "/alias.jsonl") == real + "/file.jsonl")
        #expect(ReplayOutputs.identity("/parktelemetry-nowhere.jsonl") == "/parktelemetry-nowhere.jsonl")
        // A folder that does not exist either: the path as written, standardized.
        #expect(ReplayOutputs.identity(root + "/missing/a/../b.jsonl") == root + "/missing/b.jsonl")
    }
}
