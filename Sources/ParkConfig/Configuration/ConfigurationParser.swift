import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire
import Yams

/// Turns the YAML tree into a `DaemonConfiguration`: every key checked, every error naming
/// file:line, the key and what was expected.
package struct ConfigurationParser {
    package let file: String
    package let directory: String

    package func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: directory).appendingPathComponent(path).standardized.path
    }

    package func parse(_ root: YAMLValue) throws(ConfigurationError) -> DaemonConfiguration {
        let top = try root.fields([
            "broker", "subscriptions", "topics", "payload", "windows", "lateness", "validity", "catalog", "summaries",
            "limits", "log", "rules", "rule_files", "expected_sensors", "alerts", "state_dir", "snapshot_interval",
            "parks", "http", "compliance", "tariffs", "history", "uplink", "regulator_feed", "sparkplug", "prometheus",
        ])
        guard let brokerNode = top["broker"] else {
            throw root.error("missing 'broker' (at least broker.url, e.g. mqtt://127.0.0.1:1883)")
        }
        let broker = try parseBroker(brokerNode)
        var topicList = [DaemonConfiguration.Topic(pattern: try! TopicPattern(TopicPattern.defaultPattern))]
        if let topics = top["topics"] {
            topicList = try topics.list().map(parseTopic)
            if topicList.isEmpty { throw topics.error("needs at least one pattern") }
        }
        // Defaults that must be writable live under state_dir. Under systemd (StateDirectory=)
        // it defaults to $STATE_DIRECTORY, /var/lib/parkd: not the configuration's read-only
        // folder; elsewhere to `state` beside the configuration file.
        let systemdState = ProcessInfo.processInfo.environment["STATE_DIRECTORY"]?.split(separator: ":").first
        let stateDirectory =
            try top["state_dir"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            }
            ?? systemdState.map(String.init) ?? resolve("state")
        let summaries = try parseSummaries(top, stateDirectory: stateDirectory)
        let alerts = try parseAlerts(top, stateDirectory: stateDirectory)
        var configuration = DaemonConfiguration(
            file: file, broker: broker, topics: topicList, summaries: summaries, alerts: alerts,
            stateDirectory: stateDirectory)
        try parseHistory(top, stateDirectory: stateDirectory, into: &configuration)
        try parseWindows(top, into: &configuration)
        try parseRules(top, root: root, into: &configuration)
        try parseInventory(top, into: &configuration)
        if let node = top["tariffs"] {
            configuration.tariffs = try Self.tariffs(
                node, file: file, resolve: resolve, offset: summaries.utcOffsetMinutes)
        }
        if let node = top["http"] {
            configuration.listen = try Self.http(node, default: configuration.listen, keys: ["listen", "probes"])
            configuration.probeListen = try Self.probes(node, listen: configuration.listen)
        }
        if let v = top["snapshot_interval"] { configuration.snapshotInterval = try v.duration(in: 1...86400) }
        try parseParks(top, into: &configuration)
        if let catalog = top["catalog"] {
            for item in try catalog.list() {
                let info = try parseKind(item)
                configuration.catalog.define(info)
                configuration.catalogChanges.append(info)
            }
        }
        try parseSubscriptions(top, broker: broker, into: &configuration)
        try parsePayloadAndLimits(top, into: &configuration)
        if let log = top["log"], let level = try Self.logLevel(log) { configuration.logLevel = level }
        for (id, _) in configuration.meterRoles where configuration.catalog[id.kind]?.shape != .counter {
            throw root.error(
                "expected sensor \(id) has a meter role, but its kind '\(id.kind)' is not a cumulative counter (energy, pv_energy)"
            )
        }
        (configuration.rules, configuration.ruleWarnings) = DaemonConfiguration.scopedToSites(
            configuration.rules, parks: configuration.parks)
        try parseUplinkSection(top, into: &configuration)
        try parseRegulatorFeed(top, into: &configuration)
        try parseSparkplug(top, into: &configuration)
        try parseSensorMetrics(top, into: &configuration)
        return configuration
    }

    package static func topic(_ node: YAMLValue) throws(ConfigurationError) -> String {
        let text = try node.nonEmptyString()
        guard !text.contains("+") && !text.contains("#") else {
            throw node.error("a topic to publish to has no wildcards")
        }
        return text
    }

    package static func rotation(_ fields: Fields) throws(ConfigurationError) -> FileRotation {
        var rotation = FileRotation()
        if let v = fields["max_bytes"] { rotation.maxBytes = try v.int(in: 1024...(1 << 40)) }
        if let v = fields["keep"] { rotation.keep = try v.int(in: 0...1000) }
        return rotation
    }

    /// Rules from a rule-pack file (`rules: [...]`); its errors name that file.
    /// A rule pack's keys: `rules`, and the `windows` they read.
    package static func readPack(_ path: String, from node: YAMLValue) throws(ConfigurationError) -> Fields {
        try readYAMLFile(path, from: node, what: "rule file", keys: ["rules", "windows"])
    }

    /// A YAML file a configuration names (a rule pack, a tariff file), read with the limits
    /// of `readSmallFile`, as the fields `keys` allows; errors name the file.
    package static func readYAMLFile(_ path: String, from node: YAMLValue, what: String, keys: [String])
        throws(ConfigurationError) -> Fields
    {
        let (read, problem) = DaemonConfiguration.readSmallFile(path)
        guard let data = read else { throw node.error("cannot read \(what) '\(path)': \(problem ?? "")") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw node.error("\(what) '\(path)' is not UTF-8 text")
        }
        return try DaemonConfiguration.compose(text, file: path).fields(keys)
    }

    /// `http: off` (nil), or `{listen: host:port}`; without `listen`, the default.
    package static func http(_ node: YAMLValue, default listen: HTTPListen?, keys: [String] = ["listen"])
        throws(ConfigurationError) -> HTTPListen?
    {
        if case .scalar = node.node, try node.string().lowercased() == "off" { return nil }
        guard let listen = try node.fields(keys)["listen"] else { return listen }
        let text = try listen.nonEmptyString()
        guard let parsed = HTTPListen.parse(text) else {
            throw listen.error("expected host:port such as 127.0.0.1:9108, found '\(text)'")
        }
        return parsed
    }

    /// `http.probes`: a listener of its own for /healthz and /metrics, so that a monitoring
    /// probe is answered however busy the page and the API are. Off unless given.
    static func probes(_ node: YAMLValue, listen: HTTPListen?) throws(ConfigurationError) -> HTTPListen? {
        if case .scalar = node.node { return nil }
        guard let probes = try node.fields(["listen", "probes"])["probes"] else { return nil }
        let text = try probes.nonEmptyString()
        if text.lowercased() == "off" { return nil }
        guard let parsed = HTTPListen.parse(text) else {
            throw probes.error("expected host:port such as 127.0.0.1:9109, found '\(text)'")
        }
        guard listen != nil else { throw probes.error("needs http.listen (http is off)") }
        if let listen, parsed.port != 0, parsed.port == listen.port, parsed.host == listen.host {
            throw probes.error("is the same address as http.listen; give it a port of its own")
        }
        return parsed
    }

    /// `log: {level: …}`: one of swift-log's levels, or nil when not given.
    package static func logLevel(_ node: YAMLValue) throws(ConfigurationError) -> String? {
        guard let level = try node.fields(["level"])["level"] else { return nil }
        let text = try level.string().lowercased()
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(text) else {
            throw level.error("expected one of \(levels.joined(separator: ", ")), found '\(text)'")
        }
        return text
    }

    /// One window: `{name, length, bucket, quantiles, detail}`, aligned to the park's local time.
    package static func window(_ item: YAMLValue, offset: Int64) throws(ConfigurationError) -> (WindowSpec, Bool, Bool)
    {
        let f = try item.fields(["name", "length", "bucket", "quantiles", "detail"])
        guard let lengthNode = f["length"], let bucketNode = f["bucket"] else {
            throw item.error("a window needs length and bucket, e.g. {name: 1h, length: 1h, bucket: 15m}")
        }
        let length = try lengthNode.duration(in: 1...(400 * 86400))
        let bucket = try bucketNode.duration(in: 1...(400 * 86400))
        let name = try f["name"]?.nonEmptyString() ?? TimeText.format(length)
        let quantiles = try f["quantiles"]?.bool() == true
        let detail = try f["detail"]?.bool() == true
        do throws(WindowSpecError) {
            let spec = try WindowSpec(
                name: name, length: Int64(length * 1000), bucket: Int64(bucket * 1000), alignOffset: offset)
            return (spec, quantiles, detail)
        } catch {
            throw item.error(error.description)
        }
    }

    package static func shape(_ spec: WindowSpec) -> String {
        "{length: \(TimeText.format(Double(spec.lengthMilliseconds) / 1000)), bucket: \(TimeText.format(Double(spec.bucketMilliseconds) / 1000))}"
    }

    package func parseTopic(_ item: YAMLValue) throws(ConfigurationError) -> DaemonConfiguration.Topic {
        let f = try item.fields(["pattern", "fixed", "format", "paths", "kinds", "sparkplug"])
        if let node = f["sparkplug"] {
            for key in ["pattern", "fixed", "format", "paths"] where f[key] != nil {
                throw item.error("a sparkplug route takes its topics from Sparkplug itself: no '\(key)'")
            }
            let mapping = try parseSparkplugMapping(node)
            let kinds = try f["kinds"]?.stringMap() ?? [:]
            var topic = DaemonConfiguration.Topic(pattern: TopicRoute.sparkplug(mapping).pattern)
            topic.sparkplug = mapping
            topic.kinds = kinds
            return topic
        }
        guard let patternNode = f["pattern"] else { throw item.error("missing 'pattern' (or 'sparkplug')") }
        let text = try patternNode.nonEmptyString()
        let fixed = try f["fixed"]?.stringMap() ?? [:]
        let pattern: TopicPattern
        do throws(TopicPatternError) {
            pattern = try TopicPattern(text, fixed: fixed)
        } catch {
            throw patternNode.error(error.problem)
        }
        var topic = DaemonConfiguration.Topic(pattern: pattern)
        if let formatNode = f["format"] {
            let name = try formatNode.string()
            guard let format = PayloadFormat(rawValue: name) else {
                let all = PayloadFormat.allCases.map(\.rawValue).joined(separator: ", ")
                throw formatNode.error("expected one of \(all), found '\(name)'")
            }
            topic.format = format
        }
        if let pathsNode = f["paths"] {
            guard topic.format == .chirpstack || topic.format == .tts else {
                throw pathsNode.error("paths apply to the chirpstack and tts formats only")
            }
            topic.paths = try pathsNode.stringMap().sorted { $0.key < $1.key }.map { name, path in
                (name, path.split(separator: ".").map(String.init))
            }
        }
        if let kinds = f["kinds"] { topic.kinds = try kinds.stringMap() }
        return topic
    }

    package func parseKind(_ item: YAMLValue) throws(ConfigurationError) -> KindInfo {
        let f = try item.fields(["kind", "pillar", "unit", "min", "max", "shape"])
        guard let kindNode = f["kind"] else { throw item.error("missing 'kind'") }
        let kind = try kindNode.nonEmptyString()
        let base = SensorCatalog.standard[kind]
        var pillar = base?.pillar
        if let node = f["pillar"] {
            let text = try node.string()
            guard let value = Pillar(rawValue: text) else {
                throw node.error("expected energy, emissions or green, found '\(text)'")
            }
            pillar = value
        }
        guard let pillar else { throw item.error("a new kind needs its pillar (energy, emissions or green)") }
        let unit =
            try f["unit"].map { (node: YAMLValue) throws(ConfigurationError) in Units.canonical(try node.string()) }
            ?? base?.unit ?? ""
        func number(_ key: String) throws(ConfigurationError) -> Double? {
            guard let node = f[key] else { return nil }
            let text = try node.string()
            guard let value = Double(text), value.isFinite else {
                throw node.error("expected a number, found '\(text)'")
            }
            return value
        }
        let low = try number("min") ?? base?.range.lowerBound ?? -Double.greatestFiniteMagnitude
        let high = try number("max") ?? base?.range.upperBound ?? Double.greatestFiniteMagnitude
        guard low <= high else { throw item.error("min \(low) is above max \(high)") }
        var shape = base?.shape ?? .gauge
        if let node = f["shape"] {
            let text = try node.string()
            guard let value = MeasureShape(rawValue: text) else {
                throw node.error("expected gauge or counter, found '\(text)'")
            }
            shape = value
        }
        return KindInfo(kind, pillar, unit, low...high, shape)
    }

    /// A broker section. `clientID`: the default client id; `protocol`: the default protocol.
    package func parseBroker(
        _ node: YAMLValue, clientID: String = "parkd",
        protocol defaultProtocol: MQTTClientConfiguration.ProtocolVersion = .v311
    ) throws(ConfigurationError) -> DaemonConfiguration.Broker {
        let f = try node.fields([
            "url", "protocol", "client_id", "keepalive", "username", "password_file", "password_env", "tls",
            "clean_session", "session_expiry", "reconnect", "watchdog", "urls", "connect_timeout",
        ])
        func parse(_ node: YAMLValue) throws(ConfigurationError) -> BrokerURL {
            let text = try node.nonEmptyString()
            do {
                return try BrokerURL(parsing: text)
            } catch {
                throw node.error(Self.strip(error))
            }
        }
        // `url`, or `urls`: several brokers tried in turn when one fails (a gateway's and its peer's).
        var urls: [BrokerURL]
        switch (f["url"], f["urls"]) {
        case (let one?, nil): urls = [try parse(one)]
        case (nil, let list?):
            urls = try list.list().map(parse)
            guard !urls.isEmpty else { throw list.error("needs at least one broker address") }
        case (_?, _?): throw node.error("give url or urls, not both")
        case (nil, nil): throw node.error("missing 'url', e.g. mqtt://127.0.0.1:1883 (or 'urls', a list)")
        }
        if let node = f["urls"], urls.contains(where: { $0.usesTLS != urls[0].usesTLS }) {
            throw node.error("broker addresses mix mqtt and mqtts; use one scheme for all")
        }
        guard Set(urls.map(\.description)).count == urls.count else {
            throw (f["urls"] ?? node).error("a broker address is listed twice")
        }
        var broker = DaemonConfiguration.Broker(url: urls[0])
        broker.fallbackURLs = Array(urls.dropFirst())
        broker.clientID = clientID
        broker.protocolVersion = defaultProtocol
        if let v = f["protocol"] {
            let text = try v.string()
            switch text {
            case "3.1.1", "311", "4": broker.protocolVersion = .v311
            case "5", "5.0": broker.protocolVersion = .v5
            case "auto": broker.protocolVersion = .auto
            default: throw v.error("expected 3.1.1, 5 or auto, found '\(text)'")
            }
        }
        if let v = f["connect_timeout"] { broker.connectTimeout = try v.duration(in: 1...600) }
        if let v = f["client_id"] { broker.clientID = try v.nonEmptyString() }
        if let v = f["keepalive"] { broker.keepAlive = Int(try v.duration(in: 5...65535)) }
        if let v = f["username"] { broker.username = try v.nonEmptyString() }
        if let credential = try credential(f, username: broker.username, in: node) {
            (broker.password, broker.passwordSource) = (credential.password, credential.source)
            broker.warnings += credential.warnings
        }
        if let tlsNode = f["tls"] {
            let t = try tlsNode.fields(["ca_file", "ca_path", "cert_file", "key_file", "verify_hostname"])
            var tls = MQTTClientConfiguration.TLS()
            for (key, apply) in [
                ("ca_file", { (tls: inout MQTTClientConfiguration.TLS, p: String) in tls.caFile = p }),
                ("ca_path", { (tls: inout MQTTClientConfiguration.TLS, p: String) in tls.caPath = p }),
                ("cert_file", { (tls: inout MQTTClientConfiguration.TLS, p: String) in tls.certFile = p }),
                ("key_file", { (tls: inout MQTTClientConfiguration.TLS, p: String) in tls.keyFile = p }),
            ] {
                guard let v = t[key] else { continue }
                let path = resolve(try v.nonEmptyString())
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw v.error("cannot read '\(path)'")
                }
                apply(&tls, path)
            }
            if let v = t["verify_hostname"] { tls.verifyHostname = try v.bool() }
            if (tls.certFile == nil) != (tls.keyFile == nil) {
                throw tlsNode.error("a client certificate needs both cert_file and key_file")
            }
            if let key = tls.keyFile, let warning = Self.exposedSecret(key, what: "TLS key file") {
                broker.warnings.append(warning)
            }
            broker.tls = tls
        }
        // A password over plain MQTT to another machine can be read on the way.
        if broker.password != nil, broker.tls == nil {
            for url in [broker.url] + broker.fallbackURLs where !url.usesTLS && !Self.isLoopback(url.host) {
                broker.warnings.append(
                    "the password goes in plain text to \(url) (mqtt://, no TLS): use mqtts://, or a broker on loopback"
                )
            }
        }
        if let v = f["clean_session"] { broker.cleanSession = try v.bool() }
        if let v = f["session_expiry"] { broker.sessionExpiry = try v.duration(in: 0...Double(UInt32.max)) }
        if let reconnect = f["reconnect"] {
            let r = try reconnect.fields(["initial", "max"])
            if let v = r["initial"] { broker.reconnectInitial = try v.duration(in: 0.01...3600) }
            if let v = r["max"] { broker.reconnectMaximum = try v.duration(in: 0.01...86400) }
            if broker.reconnectMaximum < broker.reconnectInitial {
                throw reconnect.error("max must not be less than initial")
            }
        }
        if let v = f["watchdog"] {
            broker.watchdog = try v.string().lowercased() == "off" ? nil : try v.duration(in: 1...86400)
        }
        return broker
    }

    /// `password_file` or `password_env` (not both), read now; with a warning when the file can
    /// be read by others. The broker and the regulator feed's upload read their password so.
    package func credential(_ f: Fields, username: String?, in node: YAMLValue) throws(ConfigurationError) -> (
        password: Secret, source: String, warnings: [String]
    )? {
        if let passwordFile = f["password_file"], f["password_env"] != nil {
            throw passwordFile.error("set password_file or password_env, not both")
        }
        var found: (password: Secret, source: String, warnings: [String])?
        if let v = f["password_file"] {
            let path = resolve(try v.nonEmptyString())
            do {
                found = (try Secret.fromFile(path), "file \(path)", [])
            } catch {
                throw v.error(Self.strip(error))
            }
            if let warning = Self.exposedSecret(path, what: "password file") { found?.warnings.append(warning) }
        }
        if let v = f["password_env"] {
            let name = try v.nonEmptyString()
            do {
                found = (try Secret.fromEnvironment(name), "environment \(name)", [])
            } catch {
                throw v.error(Self.strip(error))
            }
        }
        if found != nil && username == nil { throw node.error("a password is set but no username") }
        return found
    }

    /// A warning when a secret file can be read by its group or by anyone (mode beyond 0600).
    package static func exposedSecret(_ path: String, what: String) -> String? {
        guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int,
            mode & 0o077 != 0
        else { return nil }
        return "\(what) \(path) is readable beyond its owner (mode \(String(mode & 0o777, radix: 8))): chmod 600 it"
    }

    package static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    package static func strip(_ error: MQTTError) -> String {
        if case .invalidConfiguration(let text) = error { return text }
        return error.description
    }

    package init(
        file: String,
        directory: String
    ) {
        self.file = file
        self.directory = directory
    }
}
