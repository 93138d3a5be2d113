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
            "parks", "http", "compliance", "tariffs", "history", "uplink",
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
        let summariesNode = top["summaries"]
        let summaryFields = try summariesNode?.fields([
            "path", "series_path", "interval", "intervals", "utc_offset", "max_bytes", "keep", "mqtt_topic",
        ])
        var summaries = DaemonConfiguration.Summaries(
            path: try summaryFields?["path"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            } ?? stateDirectory + "/summaries.jsonl")
        summaries.seriesPath = try summaryFields?["series_path"].map { (node: YAMLValue) throws(ConfigurationError) in
            resolve(try node.nonEmptyString())
        }
        if let interval = summaryFields?["interval"], let intervals = summaryFields?["intervals"] {
            _ = intervals
            throw interval.error("give interval or intervals, not both")
        }
        if let interval = summaryFields?["interval"] { summaries.intervals = [try interval.duration(in: 1...86400)] }
        if let list = summaryFields?["intervals"] {
            let values = try list.list().map { (item: YAMLValue) throws(ConfigurationError) in
                try item.duration(in: 1...(31 * 86400))
            }
            guard !values.isEmpty else { throw list.error("needs at least one interval") }
            guard Set(values).count == values.count else { throw list.error("intervals must differ") }
            summaries.intervals = values.sorted()
        }
        if let fields = summaryFields { summaries.rotation = try Self.rotation(fields) }
        if let node = summaryFields?["mqtt_topic"] { summaries.mqttTopic = try Self.topic(node) }
        summaries.compliancePath = stateDirectory + "/compliance.jsonl"
        if let node = top["compliance"] {
            let f = try node.fields(["path", "mqtt_topic"])
            if let path = f["path"] {
                let text = try path.nonEmptyString()
                summaries.compliancePath = text.lowercased() == "off" ? nil : resolve(text)
            }
            if let topic = f["mqtt_topic"] { summaries.complianceTopic = try Self.topic(topic) }
        }
        if let offset = summaryFields?["utc_offset"] {
            let text = try offset.string()
            guard let minutes = TimeText.utcOffsetMinutes(text) else {
                throw offset.error("expected an offset such as +07:00, found '\(text)'")
            }
            summaries.utcOffsetMinutes = minutes
        }
        let alertFields = try top["alerts"]?.fields(["path", "log", "max_bytes", "keep", "mqtt_topic"])
        var alerts = DaemonConfiguration.Alerts(
            path: try alertFields?["path"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            } ?? stateDirectory + "/alerts.jsonl",
            log: try alertFields?["log"].map { (node: YAMLValue) throws(ConfigurationError) in
                resolve(try node.nonEmptyString())
            })
        if let fields = alertFields { alerts.rotation = try Self.rotation(fields) }
        if let node = alertFields?["mqtt_topic"] { alerts.mqttTopic = try Self.topic(node) }
        var configuration = DaemonConfiguration(
            file: file, broker: broker, topics: topicList, summaries: summaries, alerts: alerts,
            stateDirectory: stateDirectory)
        configuration.history.path = stateDirectory + "/history.sqlite"
        configuration.history.reportsDirectory = stateDirectory + "/reports"
        if let node = top["history"] {
            let h = try node.fields(["path", "resolution", "retention", "reports"])
            if let reports = h["reports"] {
                let r = try reports.fields(["dir", "pdf"])
                if let dir = r["dir"] {
                    let text = try dir.nonEmptyString()
                    configuration.history.reportsDirectory = text.lowercased() == "off" ? nil : resolve(text)
                }
                if let pdf = r["pdf"] { configuration.history.reportsPDF = try pdf.bool() }
            }
            if let path = h["path"] {
                let text = try path.nonEmptyString()
                configuration.history.path = text.lowercased() == "off" ? nil : resolve(text)
            }
            if let r = h["resolution"] {
                let seconds = try r.duration(in: 60...86400)
                guard 86400.0.truncatingRemainder(dividingBy: seconds) == 0 else {
                    throw r.error(
                        "the resolution must divide a day (1m, 5m, 15m, 1h, …), found \(TimeText.format(seconds))")
                }
                configuration.history.resolutionMilliseconds = Int64(seconds * 1000)
            }
            if let node = h["retention"] {
                let r = try node.fields(["rollups", "compliance", "alerts", "summaries"])
                func days(_ key: String) throws(ConfigurationError) -> Int64? {
                    try r[key].map { (v: YAMLValue) throws(ConfigurationError) in
                        Int64(try v.duration(in: 3600...(100 * 366 * 86400)) * 1000)
                    }
                }
                if let v = try days("rollups") { configuration.history.retention.rollupsMilliseconds = v }
                if let v = try days("compliance") { configuration.history.retention.complianceMilliseconds = v }
                if let v = try days("alerts") { configuration.history.retention.alertsMilliseconds = v }
                if let v = try days("summaries") { configuration.history.retention.summariesMilliseconds = v }
            }
        }
        // The default windows align to the park's local time, as summaries do.
        configuration.windows = WindowSpec.defaults(utcOffsetMinutes: summaries.utcOffsetMinutes)
        if let windows = top["windows"] {
            let offset = Int64(summaries.utcOffsetMinutes) * 60_000
            configuration.windows = try windows.list().map { (item: YAMLValue) throws(ConfigurationError) in
                let (spec, quantiles, detail) = try Self.window(item, offset: offset)
                if quantiles { configuration.quantileWindows.insert(spec.name) }
                if detail { configuration.detailWindows.insert(spec.name) }
                return spec
            }
            if configuration.windows.isEmpty { throw windows.error("needs at least one window") }
            let names = configuration.windows.map(\.name)
            if Set(names).count != names.count { throw windows.error("window names must differ") }
        }
        if let lateness = top["lateness"] { configuration.latenessSeconds = try lateness.duration(in: 0...(7 * 86400)) }
        if let validity = top["validity"] {
            let f = try validity.fields(["quarter_hours", "hours"])
            if let v = f["quarter_hours"] { configuration.validity.minQuarterHours = try v.int(in: 1...4) }
            if let v = f["hours"] { configuration.validity.minHours = try v.int(in: 1...24) }
        }
        // Packs name the windows their rules read: one the configuration lacks is added (with
        // the same local alignment), one it defines otherwise is an error naming both.
        var packs: [(path: String, node: YAMLValue, pack: Fields)] = []
        if let files = top["rule_files"] {
            for item in try files.list() {
                let path = resolve(try item.nonEmptyString())
                configuration.ruleFiles.append(path)
                packs.append((path, item, try Self.readPack(path, from: item)))
            }
        }
        let offset = Int64(summaries.utcOffsetMinutes) * 60_000
        for (path, _, pack) in packs {
            guard let needed = pack["windows"] else { continue }
            for item in try needed.list() {
                let (spec, _, _) = try Self.window(item, offset: offset)
                if let have = configuration.windows.first(where: { $0.name == spec.name }) {
                    guard have.lengthMilliseconds == spec.lengthMilliseconds,
                        have.bucketMilliseconds == spec.bucketMilliseconds
                    else {
                        throw item.error(
                            "the pack needs window '\(spec.name)' as \(Self.shape(spec)), but the configuration defines it as \(Self.shape(have)); rename one"
                        )
                    }
                } else {
                    configuration.windows.append(spec)
                    configuration.addedWindows[spec.name] = path
                }
            }
        }
        let ruleParser = RuleParser(
            file: file,
            windows: Dictionary(
                configuration.windows.map { ($0.name, $0.lengthMilliseconds) }, uniquingKeysWith: { a, _ in a }),
            utcOffsetMinutes: summaries.utcOffsetMinutes,
            validity: configuration.validity)
        for (path, _, pack) in packs {
            guard let rules = pack["rules"] else {
                throw ConfigurationError(file: path, keyPath: "", message: "no 'rules' list")
            }
            configuration.rules += try rules.list().map(ruleParser.parse)
        }
        if let rules = top["rules"] {
            let items = try rules.list()
            configuration.rules += try items.map(ruleParser.parse)
            configuration.inlineRules = items.map(\.flowText)
        }
        var ids = Set<String>()
        for rule in configuration.rules where !ids.insert(rule.id).inserted {
            throw root.error("rule id '\(rule.id)' is used twice; ids name alert episodes and must differ")
        }
        if let expected = top["expected_sensors"] {
            configuration.expectedSensors = try expected.list().map {
                (item: YAMLValue) throws(ConfigurationError) -> SeriesID in
                let e = try item.fields(["park", "zone", "pillar", "kind", "sensor", "role"])
                func value(_ key: String) throws(ConfigurationError) -> String {
                    guard let node = e[key] else {
                        throw item.error("an expected sensor needs park, zone, pillar, kind and sensor")
                    }
                    return try node.nonEmptyString()
                }
                let pillarText = try value("pillar")
                guard let pillar = Pillar(rawValue: pillarText) else {
                    throw item.error("pillar '\(pillarText)' is not energy, emissions or green")
                }
                let id = SeriesID(
                    park: try value("park"), zone: try value("zone"), pillar: pillar, kind: try value("kind"),
                    sensor: try value("sensor"))
                if let node = e["role"] {
                    let text = try node.string()
                    guard let role = MeterRole(rawValue: text) else {
                        throw node.error(
                            "expected a meter role (\(MeterRole.allCases.map(\.rawValue).joined(separator: ", "))), found '\(text)'"
                        )
                    }
                    guard id.pillar == .energy else {
                        throw node.error(
                            "a meter role belongs to an energy meter (pillar energy), not '\(id.pillar.rawValue)'")
                    }
                    configuration.meterRoles[id] = role
                }
                return id
            }
        }
        if let node = top["tariffs"] {
            configuration.tariffs = try Self.tariffs(
                node, file: file, resolve: resolve, offset: summaries.utcOffsetMinutes)
        }
        if let node = top["http"] { configuration.http = try Self.http(node, default: configuration.http) }
        if let v = top["snapshot_interval"] { configuration.snapshotInterval = try v.duration(in: 1...86400) }
        if let parks = top["parks"] {
            guard case .mapping(let mapping) = parks.node else {
                throw parks.error("expected a mapping of park id to {area_m2, green_target}")
            }
            for (key, value) in mapping {
                let name = key.string ?? ""
                let site = YAMLValue(node: value, path: "parks.\(name)", file: file)
                let f = try site.fields(["area_m2", "green_target", "wastewater"])
                var park = ParkSite()
                if let v = f["area_m2"] { park.areaM2 = Double(try v.int(in: 1...1_000_000_000_000)) }
                if let v = f["green_target"] {
                    let text = try v.string()
                    guard let share = Double(text), (0...1).contains(share) else {
                        throw v.error("expected a share 0...1, found '\(text)'")
                    }
                    park.greenTarget = share
                }
                if let node = f["wastewater"] {
                    let w = try node.fields(["zone", "sensor", "kq", "kf"])
                    guard let zone = w["zone"] else {
                        throw node.error("the wastewater outlet needs its zone (and optionally sensor), kq and kf")
                    }
                    func coefficient(_ key: String) throws(ConfigurationError) -> Double {
                        guard let v = w[key] else { return 1 }
                        let text = try v.string()
                        guard let value = Double(text), value > 0, value <= 2 else {
                            throw v.error("expected \(key) as in QCVN 40 §2 (e.g. 0.9, 1, 1.1, 1.2), found '\(text)'")
                        }
                        return value
                    }
                    park.wastewater = WastewaterOutlet(
                        zone: try zone.nonEmptyString(), sensor: try w["sensor"]?.nonEmptyString(),
                        kq: try coefficient("kq"), kf: try coefficient("kf"))
                }
                configuration.parks[name] = park
            }
        }
        if let catalog = top["catalog"] {
            for item in try catalog.list() {
                let info = try parseKind(item)
                configuration.catalog.define(info)
                configuration.catalogChanges.append(info)
            }
        }
        if let subscriptions = top["subscriptions"] {
            configuration.subscriptions = try subscriptions.list().map {
                (item: YAMLValue) throws(ConfigurationError) -> MQTTClientConfiguration.Subscription in
                let f = try item.fields(["filter", "qos"])
                guard let filterNode = f["filter"] else { throw item.error("missing 'filter'") }
                let filter = try filterNode.nonEmptyString()
                let qos = try f["qos"]?.int(in: 0...1) ?? 1
                let subscription = MQTTClientConfiguration.Subscription(
                    filter, qos: qos == 0 ? .atMostOnce : .atLeastOnce)
                do {
                    try MQTTClientConfiguration(url: broker.url, clientID: "x", subscriptions: [subscription])
                        .validate()
                } catch {
                    throw filterNode.error("\(error)")
                }
                return subscription
            }
            if configuration.subscriptions.isEmpty { throw subscriptions.error("needs at least one filter") }
        }
        if let payload = top["payload"] {
            let f = try payload.fields(["max_bytes", "fields"])
            if let maxBytes = f["max_bytes"] { configuration.payload.maxBytes = try maxBytes.int(in: 16...268_435_455) }
            if let names = f["fields"] {
                let n = try names.fields(["value", "ts", "unit", "status", "seq"])
                if let v = n["value"] { configuration.payload.fields.value = try v.nonEmptyString() }
                if let v = n["ts"] { configuration.payload.fields.time = try v.nonEmptyString() }
                if let v = n["unit"] { configuration.payload.fields.unit = try v.nonEmptyString() }
                if let v = n["status"] { configuration.payload.fields.status = try v.nonEmptyString() }
                if let v = n["seq"] { configuration.payload.fields.seq = try v.nonEmptyString() }
            }
        }
        if let limits = top["limits"] {
            let f = try limits.fields([
                "max_series", "max_series_per_park", "max_new_series_per_message", "allow_unknown_kinds", "series_ttl",
                "max_ahead", "max_age", "max_topic_bytes", "max_topic_levels",
            ])
            var l = configuration.limits
            if let v = f["max_series"] { l.maxSeries = try v.int(in: 1...10_000_000) }
            // Unset, a park may have every series a smaller max_series allows.
            l.maxSeriesPerPark = min(l.maxSeriesPerPark, l.maxSeries)
            if let v = f["max_series_per_park"] { l.maxSeriesPerPark = try v.int(in: 1...l.maxSeries) }
            if let v = f["max_new_series_per_message"] { l.maxNewSeriesPerMessage = try v.int(in: 1...100_000) }
            if let v = f["allow_unknown_kinds"] { l.allowUnknownKinds = try v.bool() }
            if let v = f["series_ttl"] {
                l.seriesTTLMilliseconds = Int64(try v.duration(in: 60...(3650 * 86400)) * 1000)
            }
            if let v = f["max_ahead"] {
                l.time.maxAheadMilliseconds = Int64(try v.duration(in: 0...(366 * 86400)) * 1000)
            }
            if let v = f["max_age"] {
                l.time.maxAgeMilliseconds = Int64(try v.duration(in: 60...(3650 * 86400)) * 1000)
            }
            if let v = f["max_topic_bytes"] { l.maxTopicBytes = try v.int(in: 16...65535) }
            if let v = f["max_topic_levels"] { l.maxTopicLevels = try v.int(in: 2...128) }
            configuration.limits = l
        }
        if let log = top["log"], let level = try Self.logLevel(log) { configuration.logLevel = level }
        for (id, _) in configuration.meterRoles where configuration.catalog[id.kind]?.shape != .counter {
            throw root.error(
                "expected sensor \(id) has a meter role, but its kind '\(id.kind)' is not a cumulative counter (energy, pv_energy)"
            )
        }
        configuration.rules = DaemonConfiguration.scaledForOutlets(configuration.rules, parks: configuration.parks)
        if let node = top["uplink"] {
            let uplink = try parseUplink(node, configuration: configuration)
            configuration.uplink = uplink
            configuration.limits.uplinkNames = true
            for (name, _) in configuration.parks where !UplinkName.isValid(name) {
                throw (top["parks"] ?? node).error(
                    "park '\(name)' must be [a-z0-9_-] when an uplink is configured (names go into province topics)")
            }
            for id in configuration.expectedSensors {
                if let bad = UplinkName.firstInvalid(in: id) {
                    throw (top["expected_sensors"] ?? node).error(
                        "'\(bad)' in \(id) must be [a-z0-9_-] when an uplink is configured (names go into province topics)"
                    )
                }
            }
        }
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
    package static func http(_ node: YAMLValue, default listen: (host: String, port: Int)?) throws(ConfigurationError)
        -> (host: String, port: Int)?
    {
        if case .scalar = node.node, try node.string().lowercased() == "off" { return nil }
        guard let listen = try node.fields(["listen"])["listen"] else { return listen }
        let text = try listen.nonEmptyString()
        guard let parsed = HTTPListen.parse(text) else {
            throw listen.error("expected host:port such as 127.0.0.1:9108, found '\(text)'")
        }
        return (parsed.host, parsed.port)
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
        let f = try item.fields(["pattern", "fixed", "format", "paths", "kinds"])
        guard let patternNode = f["pattern"] else { throw item.error("missing 'pattern'") }
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

    /// A broker section. `clientID`: the default client id; `only311`: why MQTT 5 is refused
    /// here, when it is (the province's cluster speaks 3.1.1 only).
    package func parseBroker(_ node: YAMLValue, clientID: String = "parkd", only311: String? = nil)
        throws(ConfigurationError) -> DaemonConfiguration.Broker
    {
        let f = try node.fields([
            "url", "protocol", "client_id", "keepalive", "username", "password_file", "password_env", "tls",
            "clean_session", "session_expiry", "reconnect", "watchdog", "urls",
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
        if let v = f["protocol"] {
            let text = try v.string()
            switch text {
            case "3.1.1", "311", "4": broker.protocolVersion = .v311
            case "5", "5.0":
                if let only311 { throw v.error(only311) }
                broker.protocolVersion = .v5
            default: throw v.error("expected 3.1.1 or 5, found '\(text)'")
            }
        }
        if let v = f["client_id"] { broker.clientID = try v.nonEmptyString() }
        if let v = f["keepalive"] { broker.keepAlive = Int(try v.duration(in: 5...65535)) }
        if let v = f["username"] { broker.username = try v.nonEmptyString() }
        if let passwordFile = f["password_file"], let passwordEnv = f["password_env"] {
            _ = passwordEnv
            throw passwordFile.error("set password_file or password_env, not both")
        }
        if let v = f["password_file"] {
            let path = resolve(try v.nonEmptyString())
            do {
                broker.password = try Secret.fromFile(path)
            } catch {
                throw v.error(Self.strip(error))
            }
            broker.passwordSource = "file \(path)"
        }
        if let v = f["password_env"] {
            let name = try v.nonEmptyString()
            do {
                broker.password = try Secret.fromEnvironment(name)
            } catch {
                throw v.error(Self.strip(error))
            }
            broker.passwordSource = "environment \(name)"
        }
        if broker.password != nil && broker.username == nil {
            throw node.error("a password is set but no username")
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
            broker.tls = tls
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
