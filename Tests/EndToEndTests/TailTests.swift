import BrokerHarness
import Foundation
import ParkConfig
import ParkGateway
import ParkIngest
import Testing

@Suite("parkd tail")
struct TailTests {
    func alert(_ i: Int, park: String = "p1", severity: String = "warning", rule: String = "r") -> String {
        #"{"id":"\#(rule)/\#(i)","state":"firing","rule":"\#(rule)","severity":"\#(severity)","park":"\#(park)","zone":"z","pillar":"emissions","kind":"pm25","sensor":"s\#(i)","at":"2026-11-23T10:00:\#(String(format: "%02d", i % 60)).000+07:00","since":"2026-11-23T10:00:00.000+07:00","message":"line \#(i) padding padding padding padding padding padding padding padding"}"#
    }

    @Test("follows the alerts file across rotations, losing and repeating nothing")
    func rotation() throws {
        let directory = try Scratch.makeDirectory(prefix: "tail")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("alerts.jsonl").path
        let file = try LineFile(path: path, rotation: .init(maxBytes: 2048, keep: 2))
        for i in 0..<3 { try file.append(alert(i)) }
        let output = directory.appendingPathComponent("tail.out").path
        let tail = try ChildProcess(
            try BuiltProduct.path("parkd"), ["tail", "alerts", "--file", path, "--json"], outputPath: output)
        Thread.sleep(forTimeInterval: 0.5)
        for i in 3..<60 {
            try file.append(alert(i))
            if i % 4 == 0 { Thread.sleep(forTimeInterval: 0.15) }  // let the tail see most rotations one by one
        }
        Thread.sleep(forTimeInterval: 0.6)
        tail.signal(SIGTERM)
        #expect(tail.wait(timeout: 5) == 0)
        #expect(FileManager.default.fileExists(atPath: path + ".2"))  // it did rotate, more than once
        let lines = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
        #expect(lines == (0..<60).map { alert($0) }, "\(lines.count) lines")
    }

    @Test("filters by park, severity and rule; --since reads the rotated files; plain text when piped")
    func filters() throws {
        let directory = try Scratch.makeDirectory(prefix: "tail-filter")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("alerts.jsonl").path
        let file = try LineFile(path: path, rotation: .init(maxBytes: 1500, keep: 5))
        for i in 0..<12 {
            try file.append(
                alert(
                    i, park: i % 2 == 0 ? "p1" : "p2", severity: i % 3 == 0 ? "critical" : "info",
                    rule: i < 6 ? "a" : "b"))
        }
        func run(_ arguments: [String]) throws -> [String] {
            let output = directory.appendingPathComponent("out-\(UUID().uuidString)").path
            let p = try ChildProcess(
                try BuiltProduct.path("parkd"), ["tail", "alerts", "--file", path, "--no-follow"] + arguments,
                outputPath: output)
            #expect(p.wait() == 0)
            return ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(
                String.init)
        }
        let all = try run(["--since", "2026-11-23T00:00:00+07:00", "--json"])
        #expect(all.count == 12)
        let critical = try run(["--since", "2026-11-23T00:00:00+07:00", "--severity", "critical", "--park", "p1"])
        #expect(critical.count == 2, "\(critical)")  // 0 and 6
        #expect(critical.allSatisfy { $0.contains("FIRING   critical") && !$0.contains("\u{1b}[") })
        let ruleB = try run(["--since", "2026-11-23T00:00:00+07:00", "--rule", "b", "--json"])
        #expect(ruleB.count == 6)
        let recent = try run(["--json"])
        #expect(recent.count < 12 && recent.last == alert(11, park: "p2", severity: "info", rule: "b"))
    }
}
