import ParkIngest
import TelemetryCore
import UplinkWire

/// The configuration printed back (`parkd check-config`): YAML with every default filled in.
extension DaemonConfiguration {
    /// A broker section's lines (`broker:` and `uplink.broker:` alike), under `indent`.
    package static func brokerLines(_ broker: Broker, indent: String) -> [String] {
        var lines: [String] = []
        if broker.fallbackURLs.isEmpty {
            lines.append(indent + "  url: \(broker.url)")
        } else {
            lines.append(
                indent + "  urls: [\(([broker.url] + broker.fallbackURLs).map(\.description).joined(separator: ", "))]")
        }
        lines.append(indent + "  protocol: \"\(broker.protocolVersion.rawValue)\"")
        lines.append(indent + "  client_id: \(Self.plain(broker.clientID))")
        lines.append(indent + "  keepalive: \(TimeText.format(Double(broker.keepAlive)))")
        lines.append(indent + "  connect_timeout: \(TimeText.format(broker.connectTimeout))")
        if let username = broker.username { lines.append(indent + "  username: \(Self.plain(username))") }
        // Where the password comes from, never the password.
        if let source = broker.passwordSource {
            if source.hasPrefix("file ") {
                lines.append(
                    indent + "  password_file: \(Self.plain(String(source.dropFirst(5))))  # password redacted")
            } else if source.hasPrefix("environment ") {
                lines.append(indent + "  password_env: \(source.dropFirst(12))  # password redacted")
            } else {
                lines.append(indent + "  password: <redacted> # from \(source)")
            }
        }
        if let tls = broker.tls {
            lines.append(indent + "  tls:")
            if let v = tls.caFile { lines.append(indent + "    ca_file: \(Self.plain(v))") }
            if let v = tls.caPath { lines.append(indent + "    ca_path: \(Self.plain(v))") }
            if let v = tls.certFile { lines.append(indent + "    cert_file: \(Self.plain(v))") }
            if let v = tls.keyFile { lines.append(indent + "    key_file: \(Self.plain(v))") }
            lines.append(indent + "    verify_hostname: \(tls.verifyHostname)")
        }
        lines.append(indent + "  clean_session: \(broker.cleanSession)")
        lines.append(indent + "  session_expiry: \(TimeText.format(broker.sessionExpiry))")
        lines.append(
            indent
                + "  reconnect: {initial: \(TimeText.format(broker.reconnectInitial)), max: \(TimeText.format(broker.reconnectMaximum))}"
        )
        lines.append(indent + "  watchdog: \(broker.watchdog.map(TimeText.format) ?? "off")")
        return lines
    }

    /// The effective configuration as YAML, every default filled in, secrets masked.
    public var effectiveYAML: String {
        var lines: [String] = ["# effective configuration of \(file)"]
        lines += warnings.map { "# warning: \($0)" }
        lines.append("broker:")
        lines += Self.brokerLines(broker, indent: "")
        lines.append("subscriptions:")
        for s in subscriptions { lines.append("  - {filter: \(JSONText.quoted(s.filter)), qos: \(s.qos.rawValue)}") }
        lines.append("topics:")
        for topic in topics {
            if let mapping = topic.sparkplug {
                lines += Self.sparkplugRouteLines(mapping, kinds: topic.kinds)
                continue
            }
            let p = topic.pattern
            lines.append("  - pattern: \(JSONText.quoted(p.text))")
            if !p.fixed.isEmpty {
                let fixed = p.fixed.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                    "\($0.key.rawValue): \($0.value)"
                }
                lines.append("    fixed: {\(fixed.joined(separator: ", "))}")
            }
            lines.append("    format: \(topic.format.rawValue)")
            if !topic.paths.isEmpty {
                let paths = topic.paths.map { "\($0.name): \($0.path.joined(separator: "."))" }
                lines.append("    paths: {\(paths.joined(separator: ", "))}")
            }
            if !topic.kinds.isEmpty {
                let kinds = topic.kinds.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                lines.append("    kinds: {\(kinds.joined(separator: ", "))}")
            }
        }
        let f = payload.fields
        lines.append("payload:")
        lines.append("  max_bytes: \(payload.maxBytes)")
        lines.append(
            "  fields: {value: \(f.value), ts: \(f.time), unit: \(f.unit), status: \(f.status), seq: \(f.seq)}")
        lines.append("windows:")
        let sketched = quantileMask
        let detailed = detailMask
        for (index, w) in windows.enumerated() {
            // What the file asks for, so the printed file reads back the same; what rules
            // make the window keep beyond that is a comment.
            let kept = (
                quantiles: index < 64 && sketched & (1 << UInt64(index)) != 0,
                detail: index < 64 && detailed & (1 << UInt64(index)) != 0
            )
            let asked = (quantiles: quantileWindows.contains(w.name), detail: detailWindows.contains(w.name))
            var read: [String] = []
            if kept.detail && !asked.detail { read.append("detail") }
            if kept.quantiles && !asked.quantiles { read.append("quantiles") }
            let note = read.isEmpty ? "" : "  # rules read it: \(read.joined(separator: " and ")) kept"
            let text =
                "{name: \(w.name), length: \(TimeText.format(Double(w.lengthMilliseconds) / 1000)), bucket: \(TimeText.format(Double(w.bucketMilliseconds) / 1000)), detail: \(asked.detail), quantiles: \(asked.quantiles)}"
            if let pack = addedWindows[w.name] {
                // A pack's window is the pack's to add again: listed here, it would no longer be "added".
                lines.append("  # - \(text)  # added: \(pack) reads it\(note.isEmpty ? "" : ";" + note.dropFirst(3))")
            } else {
                lines.append("  - \(text)\(note)")
            }
        }
        lines.append("lateness: \(TimeText.format(latenessSeconds))")
        lines.append("validity: {quarter_hours: \(validity.minQuarterHours), hours: \(validity.minHours)}")
        if !catalogChanges.isEmpty {
            lines.append("catalog:")
            for k in catalogChanges {
                lines.append(
                    "  - {kind: \(k.kind), pillar: \(k.pillar.rawValue), unit: \(JSONText.quoted(k.unit)), min: \(k.range.lowerBound), max: \(k.range.upperBound), shape: \(k.shape.rawValue)}"
                )
            }
        }
        lines.append("summaries:")
        lines.append("  path: \(Self.plain(summaries.path))")
        if let path = summaries.seriesPath { lines.append("  series_path: \(Self.plain(path))") }
        lines.append("  intervals: [\(summaries.intervals.map(TimeText.format).joined(separator: ", "))]")
        lines.append("  utc_offset: \"\(TimeText.offsetText(summaries.utcOffsetMinutes))\"")
        if let topic = summaries.mqttTopic { lines.append("  mqtt_topic: \(JSONText.quoted(topic))") }
        lines.append("  max_bytes: \(summaries.rotation.maxBytes)")
        lines.append("  keep: \(summaries.rotation.keep)")
        lines.append(
            "http: "
                + (listen.map {
                    "{listen: \"\($0.host):\($0.port)\""
                        + (probeListen.map { ", probes: \"\($0.host):\($0.port)\"" } ?? "") + "}"
                } ?? "off"))
        lines.append("history:")
        lines.append("  path: \(history.path.map(Self.plain) ?? "off")")
        lines.append("  resolution: \(TimeText.format(Double(history.resolutionMilliseconds) / 1000))")
        let r = history.retention
        let keep = [
            ("rollups", r.rollupsMilliseconds), ("compliance", r.complianceMilliseconds),
            ("alerts", r.alertsMilliseconds), ("summaries", r.summariesMilliseconds),
        ].map { "\($0.0): \(TimeText.format(Double($0.1) / 1000))" }
        lines.append("  retention: {\(keep.joined(separator: ", "))}")
        lines.append(
            "  reports: {dir: \(history.reportsDirectory.map(Self.plain) ?? "off"), pdf: \(history.reportsPDF)}")
        lines.append("state_dir: \(Self.plain(stateDirectory))")
        if let uplink {
            lines.append("uplink:")
            lines.append("  broker:")
            lines += Self.brokerLines(uplink.broker, indent: "  ")
            lines.append("  gateway: \(uplink.gateway)")
            lines.append("  shard: \(uplink.shard)  # topic \(uplink.topic)")
            lines.append("  topic_prefix: \(uplink.topicPrefix)")
            lines.append("  send: [\(uplink.kinds.map(\.rawValue).sorted().joined(separator: ", "))]")
            lines.append("  max_items: \(uplink.maxItems)")
            lines.append("  max_age: \(TimeText.format(Double(uplink.maxAgeMilliseconds) / 1000))")
            lines.append("  rate: \(RuleEngine.number(uplink.rate))")
            lines.append("  batch_items: \(uplink.batchItems)")
            lines.append("  batch_bytes: \(uplink.batchBytes)")
        }
        lines.append("snapshot_interval: \(TimeText.format(snapshotInterval))")
        lines.append("alerts:")
        lines.append("  path: \(Self.plain(alerts.path))")
        if let log = alerts.log { lines.append("  log: \(Self.plain(log))") }
        if let topic = alerts.mqttTopic { lines.append("  mqtt_topic: \(JSONText.quoted(topic))") }
        lines.append("  max_bytes: \(alerts.rotation.maxBytes)")
        lines.append("  keep: \(alerts.rotation.keep)")
        if !ruleFiles.isEmpty {
            lines.append("rule_files:")
            for f in ruleFiles { lines.append("  - \(Self.plain(f))") }
        }
        if !inlineRules.isEmpty {
            lines.append("rules:")
            for rule in inlineRules { lines.append("  - \(rule)") }
        }
        lines.append("# \(rules.count) rules: \(rules.map(\.id).joined(separator: ", "))")
        if !expectedSensors.isEmpty {
            lines.append("expected_sensors:")
            for e in expectedSensors {
                let role = meterRoles[e].map { ", role: \($0.rawValue)" } ?? ""
                lines.append(
                    "  - {park: \(e.park), zone: \(e.zone), pillar: \(e.pillar.rawValue), kind: \(e.kind), sensor: \(e.sensor)\(role)}"
                )
            }
        }
        lines.append("compliance:")
        lines.append("  path: \(summaries.compliancePath.map(Self.plain) ?? "off")")
        if let topic = summaries.complianceTopic { lines.append("  mqtt_topic: \(JSONText.quoted(topic))") }
        let policy = summaries.compliancePolicy
        lines.append("  revise_within: \(TimeText.format(Double(policy.reviseMilliseconds) / 1000))")
        lines.append("  sampling_interval: \(TimeText.format(Double(policy.samplingMilliseconds) / 1000))")
        if !parks.isEmpty {
            lines.append("parks:")
            for (name, site) in parks.sorted(by: { $0.key < $1.key }) {
                var fields = ["green_target: \(site.greenTarget)"]
                if site.zeroExport { fields.append("zero_export: true") }
                if let area = site.areaM2 { fields.insert("area_m2: \(RuleEngine.number(area))", at: 0) }
                if let w = site.wastewater {
                    fields.append(
                        "wastewater: {zone: \(JSONText.quoted(w.zone))\(w.sensor.map { ", sensor: \(JSONText.quoted($0))" } ?? ""), kq: \(RuleEngine.number(w.kq)), kf: \(RuleEngine.number(w.kf))}"
                    )
                }
                if !site.zoneClasses.isEmpty {
                    let zones = site.zoneClasses.sorted { $0.key < $1.key }.map {
                        "\(JSONText.quoted($0.key)): \($0.value)"
                    }
                    fields.append("zones: {\(zones.joined(separator: ", "))}")
                }
                lines.append("  \(name): {\(fields.joined(separator: ", "))}")
            }
        }
        if tariffs.isEmpty {
            lines.append("# tariffs: none configured, so EVN's 2014 periods (\(TariffSchedule.evn2014.source))")
        } else {
            lines.append("tariffs:")
        }
        let offset = summaries.utcOffsetMinutes
        for schedule in tariffs {
            lines.append("  - name: \(Self.plain(schedule.name))")
            if schedule.from.milliseconds != .min {
                lines.append("    from: \"\(RFC3339.day(schedule.from, offsetMinutes: offset))\"")
            }
            if !schedule.source.isEmpty { lines.append("    source: \(JSONText.quoted(schedule.source))") }
            lines.append("    confirmed: \(schedule.confirmed)")
            lines.append("    periods:")
            for span in schedule.spans {
                lines.append(
                    "      - {period: \(span.period.rawValue), days: \(Self.days(span.days)), hours: \"\(Self.clock(span.start))-\(Self.clock(span.end))\"}"
                )
            }
        }
        lines.append("limits:")
        lines.append("  max_series: \(limits.maxSeries)")
        lines.append("  max_series_per_park: \(limits.maxSeriesPerPark)")
        lines.append("  max_new_series_per_message: \(limits.maxNewSeriesPerMessage)")
        lines.append("  allow_unknown_kinds: \(limits.allowUnknownKinds)")
        lines.append("  series_ttl: \(TimeText.format(Double(limits.seriesTTLMilliseconds) / 1000))")
        lines.append("  max_ahead: \(TimeText.format(Double(limits.time.maxAheadMilliseconds) / 1000))")
        lines.append("  max_age: \(TimeText.format(Double(limits.time.maxAgeMilliseconds) / 1000))")
        lines.append("  max_topic_bytes: \(limits.maxTopicBytes)")
        lines.append("  max_topic_levels: \(limits.maxTopicLevels)")
        lines.append("log:")
        lines.append("  level: \(logLevel)")
        if let feed { lines += Self.feedLines(feed) }
        if let sparkplug { lines += Self.sparkplugLines(sparkplug) }
        if let sensorMetrics { lines += Self.sensorMetricsLines(sensorMetrics) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `regulator_feed:` with every default filled in, the password by where it comes from.
    static func feedLines(_ feed: RegulatorFeedConfiguration) -> [String] {
        let f = feed.format
        var lines = [
            "regulator_feed:", "  province: \(f.province)", "  facility: \(f.facility)",
            "  cycle: \(TimeText.format(Double(f.cycleMilliseconds) / 1000))",
            "  grace: \(TimeText.format(feed.graceSeconds))", "  directory: \(JSONText.quoted(feed.directory))",
            "  keep: \(feed.keepDays)d", "  layout: \(f.layout.rawValue)", "  missing: \(f.missing.rawValue)",
        ]
        if let u = feed.upload {
            lines.append("  upload:")
            lines.append("    url: \(JSONText.quoted(u.url))")
            if let user = u.username { lines.append("    username: \(JSONText.quoted(user))") }
            if let source = u.passwordSource {
                lines.append(
                    source.hasPrefix("file ")
                        ? "    password_file: \(JSONText.quoted(String(source.dropFirst(5))))  # password redacted"
                        : "    password_env: \(source.dropFirst(12))  # password redacted")
            }
            lines.append("    tls: \(u.tls ? "required" : "off")")
            if let ca = u.caFile { lines.append("    ca_file: \(JSONText.quoted(ca))") }
            lines.append("    timeout: \(TimeText.format(u.timeoutSeconds))")
            lines.append("    retry: \(TimeText.format(u.retrySeconds))")
        }
        lines.append("  stations:")
        for station in feed.stations {
            lines.append(
                "    - {id: \(station.id), park: \(JSONText.quoted(station.park)), zone: \(JSONText.quoted(station.zone)), parameters: ["
            )
            lines.append(
                station.parameters.map { p in
                    "        {code: \(JSONText.quoted(p.code)), kind: \(JSONText.quoted(p.kind))"
                        + (p.sensor.map { ", sensor: \(JSONText.quoted($0))" } ?? "")
                        + ", unit: \(JSONText.quoted(p.unit))}"
                }.joined(separator: ",\n"))
            lines.append("      ]}")
        }
        return lines
    }

    /// Text as it is when YAML reads it back unchanged (paths, names), else quoted.
    package static func plain(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy { s in
            (s.value >= 0x30 && s.value <= 0x39) || (s.value >= 0x41 && s.value <= 0x5A)
                || (s.value >= 0x61 && s.value <= 0x7A) || "/._-+@=~".unicodeScalars.contains(s)
                || (s.value > 0x7F && s.properties.isAlphabetic)
        }
        let reserved = ["off", "on", "yes", "no", "true", "false", "null", "~", ""]
        guard safe, let first = text.unicodeScalars.first, !"-~".unicodeScalars.contains(first),
            !reserved.contains(text.lowercased())
        else { return JSONText.quoted(text) }
        return text
    }

    package static func clock(_ minute: Int) -> String {
        (minute / 60 < 10 ? "0" : "") + "\(minute / 60):" + (minute % 60 < 10 ? "0" : "") + "\(minute % 60)"
    }

    package static func days(_ mask: UInt8) -> String {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        var parts: [String] = []
        var d = 0
        while d < 7 {
            guard mask & (1 << UInt8(d)) != 0 else {
                d += 1
                continue
            }
            var e = d
            while e + 1 < 7 && mask & (1 << UInt8(e + 1)) != 0 { e += 1 }
            parts.append(d == e ? names[d] : "\(names[d])-\(names[e])")
            d = e + 1
        }
        return parts.joined(separator: ",")
    }

    /// The regulatory limits in force at `time` (the rules that cite a regulation, with their
    /// averaging period, statistic, limit and hours), one comment line each: what check-config
    /// prints so an officer sees which figure applies today.
    public func limitsInForce(at time: EventTime) -> String {
        let offset = summaries.utcOffsetMinutes
        let day = RFC3339.day(time, offsetMinutes: offset)
        var lines = ["# regulatory limits in force on \(day) (park local time):"]
        let regulatory = rules.filter { rule in
            rule.reference != nil && (rule.validFrom.map { $0 <= time } ?? true)
                && (rule.validUntil.map { time < $0 } ?? true)
        }
        if regulatory.isEmpty { lines.append("#   none (no rule cites a regulation)") }
        for rule in regulatory {
            guard case .threshold(let source, let above, let limit, _) = rule.condition else { continue }
            var what: String
            switch source {
            case .reading: what = "each reading"
            case .window(let window, let stat): what = "\(window) \(stat.rawValue)"
            }
            if let period = rule.compliancePeriod {
                switch period {
                case .year: what = "calendar-year mean of daily means"
                case .eightHours: what += ", judged on running 8-hour means of clock hours"
                case .hour: what += ", judged on clock hours"
                case .day: what += ", judged on local calendar days"
                }
            }
            var match: [String] = []
            if let p = rule.matcher.park { match.append("park \(p)") }
            if let z = rule.matcher.zone { match.append("zone \(z)") }
            if let k = rule.matcher.kind { match.append("kind \(k)") }
            if let s = rule.matcher.sensor { match.append("sensor \(s)") }
            if !rule.matcher.excludedParks.isEmpty {
                match.append("not park \(rule.matcher.excludedParks.joined(separator: ", "))")
            }
            let hours = rule.activeMinutes.map { " \(Self.clock($0.start))-\(Self.clock($0.end))" } ?? ""
            let until = rule.validUntil.map { " until \(RFC3339.day($0, offsetMinutes: offset))" } ?? ""
            lines.append(
                "#   \(rule.id): \(match.joined(separator: ", ")) \(what) \(above ? "≤" : "≥") \(RuleEngine.number(limit))\(hours)\(until) [\(rule.reference!)]"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
