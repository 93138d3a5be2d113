import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore

/// `regulator_feed:`: the cycle files parkd writes for the authority's automatic monitoring
/// feed, where it keeps them, and the FTP server it pushes them to.
public struct RegulatorFeedConfiguration: Sendable, Equatable {
    public struct Upload: Sendable, Equatable {
        /// `ftp://host[:port][/folder]`.
        public var host: String
        public var port: Int
        /// The folder on the server the station folders go under ("" for the login's home).
        public var folder: String
        public var username: String?
        public var password: Secret?
        /// Where the password comes from (`file PATH`, `environment NAME`), for check-config.
        public var passwordSource: String?
        /// Explicit TLS (AUTH TLS): the server must offer it and present a certificate the CA
        /// file (or the system's store) trusts.
        public var tls = false
        public var caFile: String?
        public var timeoutSeconds = 60.0
        /// The longest wait between attempts after failures (doubling from 1 s).
        public var retrySeconds = 60.0
        public var url: String { "ftp://\(host):\(port)" + (folder.isEmpty ? "" : "/" + folder) }
    }

    public var format: RegulatorFeedFormat
    public var stations: [FeedStation]
    public var graceSeconds = 60.0
    /// Cycle files are written here (`archive/`) and queued for upload (`pending/`).
    public var directory: String
    /// Files are kept at least 60 days (Circular 10/2021 Art. 39 as vendors paraphrase it).
    public var keepDays = 60
    public var upload: Upload?
    /// What is risky but allowed (a password file others can read, a password in plain text
    /// to another machine): logged at start and printed by check-config.
    public var warnings: [String] = []
}

extension ConfigurationParser {
    /// `regulator_feed:`.
    package func parseRegulatorFeed(_ top: Fields, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        guard let node = top["regulator_feed"] else { return }
        let f = try node.fields([
            "province", "facility", "cycle", "grace", "directory", "keep", "layout", "missing", "upload", "stations",
        ])
        func name(_ key: String, in fields: Fields, of parent: YAMLValue) throws(ConfigurationError) -> String {
            guard let v = fields[key] else { throw parent.error("needs \(key)") }
            let text = try v.string()
            guard RegulatorFeedFormat.isSafeName(text) else {
                throw v.error(
                    "\(key) '\(text)' must be letters, digits, '-' and '_' only (it names files and folders on the authority's server)"
                )
            }
            return text
        }
        var format = RegulatorFeedFormat(
            province: try name("province", in: f, of: node), facility: try name("facility", in: f, of: node))
        format.calendar = LocalCalendar(utcOffsetMinutes: configuration.summaries.utcOffsetMinutes)
        if let v = f["cycle"] {
            let seconds = try v.duration(in: 60...3600)
            guard 86400.truncatingRemainder(dividingBy: seconds) == 0 else {
                throw v.error("the cycle must divide a day (1m, 5m, 10m, 15m, 1h …)")
            }
            format.cycleMilliseconds = Int64(seconds * 1000)
        }
        if let v = f["layout"] {
            let text = try v.string()
            guard let layout = RegulatorFeedFormat.Layout(rawValue: text) else {
                throw v.error("expected layout lines (one line per parameter) or line (all on one), found '\(text)'")
            }
            format.layout = layout
        }
        if let v = f["missing"] {
            let text = try v.string()
            guard let missing = RegulatorFeedFormat.Missing(rawValue: text) else {
                throw v.error("expected missing dashes (---, status 02) or omit, found '\(text)'")
            }
            format.missing = missing
        }
        guard let list = f["stations"] else { throw node.error("needs stations (each {id, park, zone, type})") }
        var stations: [FeedStation] = []
        for item in try list.list() {
            let s = try item.fields(["id", "park", "zone", "type", "sensor", "parameters"])
            let id = try name("id", in: s, of: item)
            guard let park = s["park"], let zone = s["zone"] else {
                throw item.error("station '\(id)' needs park and zone")
            }
            let sensor = try s["sensor"]?.nonEmptyString()
            var parameters: [FeedStation.Parameter]
            switch try s["type"]?.string() {
            case "wastewater": parameters = FeedStation.wastewaterParameters
            case "stack": parameters = FeedStation.stackParameters
            case nil: parameters = []
            case let other?: throw item.error("station '\(id)': expected type wastewater or stack, found '\(other)'")
            }
            if let list = s["parameters"] {
                parameters = []
                for p in try list.list() {
                    let g = try p.fields(["code", "kind", "sensor", "unit"])
                    guard let code = g["code"], let kind = g["kind"] else {
                        throw p.error("a parameter needs code and kind")
                    }
                    let codeText = try code.nonEmptyString()
                    let unit = try g["unit"]?.string() ?? ""
                    guard !(codeText + unit).contains(where: { $0 == "\t" || $0 == "\r" || $0 == "\n" }) else {
                        throw p.error("code and unit cannot hold tabs or line breaks (they are fields of the file)")
                    }
                    parameters.append(
                        .init(
                            code: codeText, kind: try kind.nonEmptyString(), sensor: try g["sensor"]?.nonEmptyString(),
                            unit: unit))
                }
            }
            guard !parameters.isEmpty else { throw item.error("station '\(id)' needs a type or its parameters") }
            if let sensor {
                parameters = parameters.map {
                    var p = $0
                    p.sensor = p.sensor ?? sensor
                    return p
                }
            }
            guard !stations.contains(where: { $0.id == id }) else {
                throw item.error("station '\(id)' is listed twice")
            }
            stations.append(
                FeedStation(
                    id: id, park: try park.nonEmptyString(), zone: try zone.nonEmptyString(), parameters: parameters))
        }
        guard !stations.isEmpty else { throw list.error("needs at least one station") }
        var feed = RegulatorFeedConfiguration(
            format: format, stations: stations,
            directory: configuration.stateDirectory + "/feed")
        if let v = f["grace"] { feed.graceSeconds = try v.duration(in: 0...3600) }
        if let v = f["directory"] { feed.directory = resolve(try v.nonEmptyString()) }
        if let v = f["keep"] {
            let seconds = try v.duration(in: 60 * 86400...3650 * 86400)
            feed.keepDays = Int(seconds / 86400)
        }
        if let u = f["upload"] { feed.upload = try parseFeedUpload(u, warnings: &feed.warnings) }
        configuration.feed = feed
    }

    private func parseFeedUpload(_ node: YAMLValue, warnings: inout [String]) throws(ConfigurationError)
        -> RegulatorFeedConfiguration.Upload
    {
        let f = try node.fields([
            "url", "username", "password_file", "password_env", "tls", "ca_file", "timeout", "retry",
        ])
        guard let urlNode = f["url"] else { throw node.error("needs url (ftp://host[:port][/folder])") }
        let text = try urlNode.string()
        guard text.hasPrefix("ftp://") else {
            throw urlNode.error(
                "expected ftp://host[:port][/folder] (TLS: tls: required), found '\(text)'; sftp is not supported")
        }
        let rest = text.dropFirst(6)
        let hostPort = rest.prefix { $0 != "/" }
        let folder = rest.dropFirst(hostPort.count).split(separator: "/").map(String.init)
        guard folder.allSatisfy(RegulatorFeedFormat.isSafeName) else {
            throw urlNode.error("the folder of '\(text)' must be plain names (letters, digits, '-', '_')")
        }
        var host = String(hostPort)
        var port = 21
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                throw urlNode.error("expected a port 1–65535 in '\(text)'")
            }
            port = p
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-.[]:".contains($0) }) else {
            throw urlNode.error("expected a host name or address in '\(text)'")
        }
        var upload = RegulatorFeedConfiguration.Upload(host: host, port: port, folder: folder.joined(separator: "/"))
        if let v = f["username"] { upload.username = try v.nonEmptyString() }
        if let credential = try credential(f, username: upload.username, in: node) {
            upload.password = credential.password
            upload.passwordSource = credential.source
            warnings += credential.warnings
        }
        if let v = f["tls"] {
            switch try v.string() {
            case "required": upload.tls = true
            case "off": upload.tls = false
            case let other: throw v.error("expected tls required or off, found '\(other)'")
            }
        }
        if let v = f["ca_file"] {
            let path = resolve(try v.nonEmptyString())
            guard FileManager.default.isReadableFile(atPath: path) else { throw v.error("cannot read '\(path)'") }
            upload.caFile = path
        }
        // A password over plain FTP to another machine can be read on the way.
        if upload.password != nil, !upload.tls, !Self.isLoopback(upload.host) {
            warnings.append("the feed's password goes in plain text to \(upload.url) (FTP, no TLS): set tls: required")
        }
        if let v = f["timeout"] { upload.timeoutSeconds = try v.duration(in: 1...3600) }
        if let v = f["retry"] { upload.retrySeconds = try v.duration(in: 1...3600) }
        return upload
    }
}
