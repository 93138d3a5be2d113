import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// `parkd tail`: follows the alerts or summaries file across rotation, with filters.
public struct Tail {
    public enum Kind: String, Sendable, CaseIterable { case alerts, summaries }

    public struct Filter: Sendable {
        public var park: String?
        public var pillar: String?
        public var minimumSeverity: Severity?
        public var rule: String?
        public var since: EventTime?
        public init() {}
    }

    public let kind: Kind
    public let path: String
    public let filter: Filter
    public let json: Bool
    public let colour: Bool

    public init(kind: Kind, path: String, filter: Filter, json: Bool, colour: Bool) {
        self.kind = kind
        self.path = path
        self.filter = filter
        self.json = json
        self.colour = colour
    }

    /// The lines already written: from the rotated files too when `since` is set, otherwise
    /// the last `count` of the current file.
    public func history(last count: Int = 10) -> [String] {
        var files = [path]
        if filter.since != nil {
            var index = 1
            while FileManager.default.fileExists(atPath: "\(path).\(index)") { index += 1 }
            files = (1..<index).reversed().map { "\(path).\($0)" } + [path]
        }
        var lines: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                if let shown = render(String(line)) { lines.append(shown) }
            }
        }
        return filter.since == nil ? Array(lines.suffix(count)) : lines
    }

    /// Follows the file until `stop` says so, handing each new matching line to `emit`.
    public func follow(emit: (String) -> Void, stop: () -> Bool) {
        var descriptor: Int32 = -1
        var inode: UInt64 = 0
        var pending: [UInt8] = []
        func openCurrent(atEnd: Bool) {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return }
            var info = stat()
            fstat(descriptor, &info)
            inode = UInt64(info.st_ino)
            if atEnd { lseek(descriptor, 0, SEEK_END) }
        }
        func drain() {
            guard descriptor >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                pending += buffer[0..<count]
            }
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if let shown = render(line) { emit(shown) }
            }
        }
        openCurrent(atEnd: true)
        while !stop() {
            drain()
            var info = stat()
            let exists = stat(path, &info) == 0
            // Rotated (a new file under the name) or truncated: finish the old one, start the new.
            if exists && (descriptor < 0 || UInt64(info.st_ino) != inode) {
                drain()
                if descriptor >= 0 { close(descriptor) }
                pending.removeAll()
                openCurrent(atEnd: false)
                continue
            }
            usleep(100_000)
        }
        drain()
        if descriptor >= 0 { close(descriptor) }
    }

    /// The line as shown, or nil when a filter leaves it out. Every string from the file is
    /// escaped (`LogSafe`): names in it came from the wire and must not drive the terminal.
    public func render(_ line: String) -> String? {
        guard !line.isEmpty, let object = try? JSONValue.parse(Array(line.utf8)) else {
            return json ? nil : (line.isEmpty ? nil : LogSafe.text(line, limit: 4096))
        }
        switch kind {
        case .alerts:
            if let park = filter.park, object["park"]?.string != park { return nil }
            if let pillar = filter.pillar, object["pillar"]?.string != pillar { return nil }
            if let rule = filter.rule, object["rule"]?.string != rule { return nil }
            if let minimum = filter.minimumSeverity {
                guard let severity = object["severity"]?.string.flatMap(Severity.init(rawValue:)), severity >= minimum
                else { return nil }
            }
            if let since = filter.since, let at = object["at"]?.string.flatMap({ RFC3339.parse(Array($0.utf8)) }),
                at < since
            {
                return nil
            }
            if json { return LogSafe.isClean(line) ? line : LogSafe.text(line, limit: 1 << 20) }
            let state = object["state"]?.string ?? "?"
            let severity = object["severity"]?.string ?? "?"
            let at = String((object["at"]?.string ?? "").prefix(19))
            let label = (state == "firing" ? (object["repeated"] != nil ? "STILL" : "FIRING") : "RESOLVED").padding(8)
            let text = LogSafe.text(
                "\(at) \(label) \(severity.padding(8)) \(object["rule"]?.string ?? "?")  \(object["message"]?.string ?? "")",
                limit: 4096)
            guard colour else { return text }
            let code =
                state == "resolved" ? "32" : (severity == "critical" ? "31" : (severity == "warning" ? "33" : "36"))
            return "\u{1b}[\(code)m\(text)\u{1b}[0m"
        case .summaries:
            if let since = filter.since, let to = object["to"]?.string.flatMap({ RFC3339.parse(Array($0.utf8)) }),
                to < since
            {
                return nil
            }
            if json { return LogSafe.isClean(line) ? line : LogSafe.text(line, limit: 1 << 20) }
            let from = LogSafe.text(String((object["from"]?.string ?? "").prefix(19)))
            let to = LogSafe.text(String((object["to"]?.string ?? "").dropFirst(11).prefix(8)))
            // A hand-edited file may hold any number: none may trap.
            func whole(_ value: Double?) -> Int { value.flatMap { Int(exactly: $0.rounded()) } ?? 0 }
            func n(_ key: String) -> Int { whole(object[key]?.number) }
            var rejected = 0
            if case .object(let members)? = object["rejected"] {
                rejected = members.reduce(0) { $0 &+ whole($1.1.number) }
            }
            return
                "\(from)–\(to)  messages \(n("messages"))  accepted \(n("accepted"))  rejected \(rejected)  series \(n("series_reporting"))/\(n("series_total"))"
        }
    }
}
