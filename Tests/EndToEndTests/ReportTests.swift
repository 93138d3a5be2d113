import BrokerHarness
import Foundation
import TelemetryCore
import Testing

/// The daily compliance report, from a known feed: HTML that parses, a PDF with the park, each
/// parameter, its limit and the exceedance counts, and every name from the wire as text.
@Suite("Daily compliance report")
struct ReportTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy").path

    func run(_ executable: String, _ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let path = directory.appendingPathComponent("\(UUID().uuidString).out").path
        let process = try ChildProcess(executable, arguments, outputPath: path)
        let status = process.wait()
        return (status, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    @Test("replay → store → parkd report: the day's records, limits, exceedances, energy, alerts and missing sensors")
    func report() throws {
        let directory = try Scratch.makeDirectory(prefix: "report")
        defer { try? FileManager.default.removeItem(at: directory) }
        let start = Int64(1_795_366_800)  // 2026-11-23T00:00:00+07:00, a Monday
        var text = ""
        func add(_ t: Int64, _ topic: String, _ value: Double) {
            text +=
                FeedRecord(
                    time: EventTime(milliseconds: t * 1000), topic: topic,
                    payload: Array(#"{"value": \#(value), "ts": \#(t)}"#.utf8)
                ).line + "\n"
        }
        // The day before: a sensor whose name is markup, silent on the day (missing).
        add(start - 3600, "parks/p/z/emissions/pm25/<b>evil", 20)
        for minute in 0...(24 * 60 + 1) {
            let t = start + Int64(minute) * 60
            let hour = minute / 60
            // PM2.5 30 until 18:00, then 70: the day's mean (18·30 + 6·70) / 24 = 40, within 45.
            add(t, "parks/p/z/emissions/pm25/aq-1", hour < 18 ? 30 : 70)
            // Noise 62 dBA 22:00–02:00, 58 otherwise: by night (21:00–06:00, 55 dBA) hours 21–05
            // exceed, nine of them; by day (70 dBA) none.
            add(t, "parks/p/fence/emissions/noise/n-1", hour >= 22 || hour < 2 ? 62 : 58)
            add(t, "parks/p/grid/energy/energy/m-1", 1000 + Double(minute) * 100 / 60)
            // A second noise meter: 50 dBA until 10:59, 90 dBA from 11:00 to 11:10, then silent.
            if minute <= 670 { add(t, "parks/p/fence/emissions/noise/n-2", minute < 660 ? 50 : 90) }
        }
        try text.write(to: directory.appendingPathComponent("feed.jsonl"), atomically: true, encoding: .utf8)
        try """
        broker: {url: mqtt://127.0.0.1}
        summaries: {intervals: [1h, 1d]}
        rule_files: [\(Self.deploy)/rules/qcvn05-2023-ambient-air.yaml, \(Self.deploy)/rules/qcvn26-2010-noise.yaml]
        parks: {p: {zones: {fence: ordinary}}}
        """.write(to: directory.appendingPathComponent("parkd.yaml"), atomically: true, encoding: .utf8)
        let parkd = try BuiltProduct.path("parkd")
        let config = directory.appendingPathComponent("parkd.yaml").path
        let store = directory.appendingPathComponent("history.sqlite").path
        let replay = try run(
            parkd,
            [
                "replay", directory.appendingPathComponent("feed.jsonl").path, "--config", config, "--out",
                directory.appendingPathComponent("out").path, "--history", store,
            ], in: directory)
        #expect(replay.status == 0, "\(replay.output)")
        let reports = directory.appendingPathComponent("reports").path
        let made = try run(
            parkd,
            ["report", "--park", "p", "--day", "2026-11-23", "--config", config, "--store", store, "--out", reports],
            in: directory)
        #expect(made.status == 0, "\(made.output)")
        let html = try String(contentsOfFile: reports + "/report-p-2026-11-23.html", encoding: .utf8)
        // Names from the wire are text, never markup.
        #expect(!html.contains("<b>evil") && html.contains("&lt;b&gt;evil"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        // Built from wire text: the page itself forbids scripts and outside content.
        #expect(html.contains(#"<meta http-equiv="Content-Security-Policy" content="default-src 'none';"#))
        // It parses: every element opened is closed in order (Python's HTML parser).
        let parse = try run(
            "/usr/bin/python3",
            ["-c", Self.htmlCheck, reports + "/report-p-2026-11-23.html"], in: directory)
        #expect(parse.status == 0 && parse.output.contains("balanced"), "\(parse.output)")
        // The PDF (Chromium from Debian) holds the park, each parameter, its limit and the counts.
        let pdf = reports + "/report-p-2026-11-23.pdf"
        #expect(FileManager.default.fileExists(atPath: pdf), "\(made.output)")
        let pdfText = try run("/usr/bin/pdftotext", ["-layout", pdf, "-"], in: directory).output
        for expected in [
            "Daily compliance report: p", "noise at fence/n-1", "pm25 at z/aq-1", "qcvn26-noise-night",
            "qcvn26-noise-day", "qcvn05-pm25-24h", "55.0", "70.0", "45.0", "40.0", "p/z/emissions/pm25/<b>evil",
        ] {
            #expect(pdfText.contains(expected), "\(expected) not in the PDF")
        }
        // Exceeding hours 9 (night noise), exceeding days 0; the night rule's row shows 9 of 9.
        let summary = pdfText.components(separatedBy: "\n").first { $0.contains("exceeding hours") } ?? ""
        let counts = summary.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        #expect(counts.contains("exceeding hours 9 exceeding days 0 alerts"), "\(summary)")
        let night = pdfText.components(separatedBy: "\n").first { $0.contains("qcvn26-noise-night") } ?? ""
        // periods 9, valid 9, invalid 0 (silent 0), exceeded 9.
        #expect(night.replacingOccurrences(of: " ", with: "").contains("1h55.0990(0)9100%"), "\(night)")
        // n-2 by day (06:00–21:00, 15 hours): 06–10 valid at 50; 11:00 one quarter, invalid, its
        // 90 dBA neither the max nor an exceedance; 12–20 silent, written with capture 0.
        // Capture (5·4 + 1) / (15·4) = 35 %. By night (9 hours): 00–05 valid, 21–23 silent: 24/36 = 67 %.
        let lines = pdfText.components(separatedBy: "\n")
        let n2 = try #require(lines.firstIndex { $0.contains("noise at fence/n-2") })
        func row(_ rule: String) -> String {
            (lines[n2...].first { $0.contains(rule + " ") } ?? "").replacingOccurrences(of: " ", with: "")
        }
        #expect(row("qcvn26-noise-day").contains("1h70.015510(9)035%"), "\(row("qcvn26-noise-day"))")
        #expect(row("qcvn26-noise-night").contains("1h55.0963(3)067%"), "\(row("qcvn26-noise-night"))")
        #expect(html.contains("max of valid 50.0") && !html.contains("max of valid 90.0"))
        // The energy split names its schedule and that its hours are not confirmed.
        #expect(html.contains("Tariff periods by schedule evn-2014") && html.contains("not confirmed"))
        // Every page renders.
        let pages = try run(
            "/usr/bin/pdftoppm", ["-png", "-r", "40", pdf, directory.appendingPathComponent("page").path], in: directory
        )
        #expect(pages.status == 0)
        let pngs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("page") }
        #expect(!pngs.isEmpty)
        // A day without data is a clear report, not an error; a bad day is an error.
        let empty = try run(
            parkd,
            [
                "report", "--park", "p", "--day", "2026-12-25", "--config", config, "--store", store, "--out", reports,
                "--no-pdf",
            ],
            in: directory)
        #expect(empty.status == 0)
        let emptyHTML = try String(contentsOfFile: reports + "/report-p-2026-12-25.html", encoding: .utf8)
        #expect(emptyHTML.contains("No regulatory record for this park on this day."))
        let bad = try run(
            parkd, ["report", "--park", "p", "--day", "23/11/2026", "--config", config, "--store", store], in: directory
        )
        #expect(bad.status == 2 && bad.output.contains("expected a day such as 2026-11-23"))
    }

    /// Checks that every non-void element is closed in order.
    static let htmlCheck = """
        import sys
        from html.parser import HTMLParser
        VOID = {"meta", "br", "img", "input", "link", "hr", "line", "rect", "path", "circle", "polyline"}
        class P(HTMLParser):
            def __init__(self):
                super().__init__(); self.stack = []; self.bad = []
            def handle_starttag(self, tag, attrs):
                if tag not in VOID: self.stack.append(tag)
            def handle_startendtag(self, tag, attrs): pass
            def handle_endtag(self, tag):
                if tag in VOID: return
                if not self.stack or self.stack[-1] != tag: self.bad.append((tag, list(self.stack[-3:])))
                else: self.stack.pop()
        p = P(); p.feed(open(sys.argv[1]).read()); p.close()
        print("balanced" if not p.bad and not p.stack else "unbalanced %s %s" % (p.bad[:3], p.stack))
        """
}
