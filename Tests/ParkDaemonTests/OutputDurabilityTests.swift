import Foundation
import Logging
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

#if canImport(Glibc)
    import Glibc
#endif

/// A small tmpfs of our own, so that "the disk is full" is real: root only (CI runs as root).
final class SmallFilesystem {
    let path: String

    static var available: Bool {
        guard geteuid() == 0, let probe = try? SmallFilesystem(bytes: 4096) else { return false }
        probe.unmount()
        return true
    }

    init(bytes: Int, inodes: Int? = nil) throws {
        path = NSTemporaryDirectory() + "parktelemetry-tmpfs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var options = "size=\(bytes)"
        if let inodes { options += ",nr_inodes=\(inodes)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = ["-t", "tmpfs", "-o", options, "tmpfs", path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw DaemonError.output(path: path, reason: "mount failed")
        }
    }

    func unmount() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = [path]
        try? process.run()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { unmount() }
}

@Suite("Outputs on a full disk")
struct OutputDurabilityTests {
    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(
            separator: "\n", omittingEmptySubsequences: false
        )
        .map(String.init).filter { !$0.isEmpty }
    }

    /// A 100-byte line (99 characters and the newline), numbered.
    static func line(_ k: Int) -> String {
        let head = "line \(k) "
        return head + String(repeating: "x", count: 99 - head.count)
    }

    @Test(
        "a full disk tears no line and loses none: refused lines are kept and written in order once there is room",
        .enabled(if: SmallFilesystem.available))
    func fullDisk() throws {
        let fs = try SmallFilesystem(bytes: 64 * 1024)
        let path = fs.path + "/alerts.jsonl"
        let file = try LineFile(path: path)
        // Leave one 4 KiB page: 40 lines fit, the 41st is cut at the page's end.
        let filler = fs.path + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: 60 * 1024))
        var refused = 0
        for k in 0..<60 {
            do { try file.append(Self.line(k)) } catch { refused += 1 }
        }
        #expect(refused == 20)
        #expect(file.backlog.pending == 20 && file.backlog.error != nil)
        // What is on the disk is whole lines only: 4 000 bytes, not 4 096 with half a line.
        #expect(Self.lines(path) == (0..<40).map(Self.line))
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 4000)
        try FileManager.default.removeItem(atPath: filler)
        try file.retry()
        try file.append(Self.line(60))
        #expect(file.backlog.pending == 0 && file.backlog.error == nil)
        #expect(Self.lines(path) == (0...60).map(Self.line))
        file.close()
    }

    @Test(
        "a rotation whose new file cannot be created keeps every kept file, and resumes when it can",
        .enabled(if: SmallFilesystem.available))
    func rotationFailure() throws {
        // Inodes: the root folder, the file, and two spare ones that the test fills.
        let fs = try SmallFilesystem(bytes: 1024 * 1024, inodes: 4)
        let path = fs.path + "/summaries.jsonl"
        let file = try LineFile(path: path, rotation: .init(maxBytes: 250, keep: 3))
        try file.append(Self.line(0))
        try file.append(Self.line(1))
        _ = FileManager.default.createFile(atPath: fs.path + "/a", contents: Data())
        _ = FileManager.default.createFile(atPath: fs.path + "/b", contents: Data())
        // The third line rotates: summaries.jsonl becomes .1; the new file needs an inode.
        for k in 2..<4 { #expect(throws: DaemonError.self) { try file.append(Self.line(k)) } }
        // A second failure only tries to open again: nothing was shifted twice.
        #expect(Self.lines(path + ".1") == [Self.line(0), Self.line(1)])
        #expect(!FileManager.default.fileExists(atPath: path + ".2"))
        try FileManager.default.removeItem(atPath: fs.path + "/a")
        try FileManager.default.removeItem(atPath: fs.path + "/b")
        try file.append(Self.line(4))
        #expect(Self.lines(path + ".2") == [Self.line(0), Self.line(1)])
        #expect(Self.lines(path + ".1") == [Self.line(2), Self.line(3)])
        #expect(Self.lines(path) == [Self.line(4)])
        file.close()
    }

    @Test(
        "a replay whose summary file fills the disk ends in an error that names the file, not in success",
        .enabled(if: SmallFilesystem.available))
    func replayFullDisk() throws {
        let fs = try SmallFilesystem(bytes: 64 * 1024)
        let directory = NSTemporaryDirectory() + "parktelemetry-replay-full-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Only the summaries go to the small disk: a line a minute for five hours, of 100
        // sensors, is far more than the 4 KiB left there.
        let configuration = try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1"}
            summaries: {path: \(fs.path)/summaries.jsonl, intervals: [1m]}
            alerts: {path: alerts.jsonl}
            """, file: directory + "/parkd.yaml")
        _ = FileManager.default.createFile(atPath: fs.path + "/filler", contents: Data(count: 60 * 1024))
        let t0 = 1_795_400_000.0
        let feed = (0..<300).flatMap { minute in
            (0..<100).map { sensor in
                #"{"t":\#(t0 + Double(minute) * 60),"topic":"parks/p\#(sensor)/z/emissions/pm25/s","payload":"{\"value\":1}"}"#
            }
        }
        try (feed.joined(separator: "\n") + "\n").write(
            toFile: directory + "/feed.jsonl", atomically: true, encoding: .utf8)
        #expect {
            _ = try Replay(configuration: configuration, logger: Logger(label: "test")).run(
                feed: directory + "/feed.jsonl")
        } throws: { error in
            "\(error)".contains(fs.path + "/summaries.jsonl") && "\(error)".contains("not written")
        }
    }

    @Test("20 000 sensors going stale in one tick give 20 000 alert lines: the queue drops nothing")
    func twentyThousandStale() throws {
        let directory = NSTemporaryDirectory() + "parktelemetry-stale-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1"}
            rules: [{id: stale, description: "silent", severity: warning, stale: 2h}]
            limits: {max_series: 30000, max_series_per_park: 30000}
            summaries: {path: summaries.jsonl, intervals: [1h]}
            alerts: {path: alerts.jsonl}
            """, file: directory + "/parkd.yaml")
        // Every sensor once at t0, then one other sensor 3 hours later: the tick then finds
        // all 20 000 silent for more than 2 hours at once.
        let t0 = 1_795_400_000.0
        var feed = (0..<20_000).map {
            #"{"t":\#(t0),"topic":"parks/p/z/emissions/pm25/s\#($0)","payload":"{\"value\":1}"}"#
        }
        feed.append(#"{"t":\#(t0 + 10_800),"topic":"parks/p/z/emissions/pm25/late","payload":"{\"value\":1}"}"#)
        try (feed.joined(separator: "\n") + "\n").write(
            toFile: directory + "/feed.jsonl", atomically: true, encoding: .utf8)
        let report = try Replay(configuration: configuration, logger: Logger(label: "test")).run(
            feed: directory + "/feed.jsonl")
        #expect(report.alerts == 20_000)
        let lines = Self.lines(directory + "/alerts.jsonl")
        #expect(lines.count == 20_000)
        let sensors = lines.compactMap { line in
            line.range(of: #""sensor":"s\d+""#, options: .regularExpression).map { String(line[$0]) }
        }
        #expect(Set(sensors).count == 20_000)
    }
}
