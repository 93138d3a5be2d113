import TelemetryCore

/// The configuration printed back (`parkd check-config`): YAML with every default filled in.
extension DaemonConfiguration {
    /// The effective configuration as YAML, every default filled in, secrets masked.
    public var effectiveYAML: String {
        var lines: [String] = ["# effective configuration of \(file)", "broker:"]
        lines.append("  url: \(broker.url)")
        lines.append("  protocol: \"\(broker.protocolVersion.rawValue)\"")
        lines.append("  client_id: \(broker.clientID)")
        lines.append("  keepalive: \(TimeText.format(Double(broker.keepAlive)))")
        if let username = broker.username { lines.append("  username: \(username)") }
        if let source = broker.passwordSource { lines.append("  password: <redacted> # from \(source)") }
        if let tls = broker.tls {
            lines.append("  tls:")
            if let v = tls.caFile { lines.append("    ca_file: \(v)") }
            if let v = tls.caPath { lines.append("    ca_path: \(v)") }
            if let v = tls.certFile { lines.append("    cert_file: \(v)") }
            if let v = tls.keyFile { lines.append("    key_file: \(v)") }
            lines.append("    verify_hostname: \(tls.verifyHostname)")
        }
        lines.append("  clean_session: \(broker.cleanSession)")
        lines.append("  session_expiry: \(TimeText.format(broker.sessionExpiry))")
        lines.append(
            "  reconnect: {initial: \(TimeText.format(broker.reconnectInitial)), max: \(TimeText.format(broker.reconnectMaximum))}"
        )
        lines.append("  watchdog: \(broker.watchdog.map(TimeText.format) ?? "off")")
        lines.append("subscriptions:")
        for s in subscriptions { lines.append("  - {filter: \"\(s.filter)\", qos: \(s.qos.rawValue)}") }
        lines.append("topics:")
        for topic in topics {
            let p = topic.pattern
            lines.append("  - pattern: \"\(p.text)\"")
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
            let quantiles = index < 64 && sketched & (1 << UInt64(index)) != 0
            let detail = index < 64 && detailed & (1 << UInt64(index)) != 0
            lines.append(
                "  - {name: \(w.name), length: \(TimeText.format(Double(w.lengthMilliseconds) / 1000)), bucket: \(TimeText.format(Double(w.bucketMilliseconds) / 1000)), detail: \(detail), quantiles: \(quantiles)}\(addedWindows[w.name].map { "  # added: \($0) reads it" } ?? "")"
            )
        }
        lines.append("lateness: \(TimeText.format(latenessSeconds))")
        lines.append("validity: {quarter_hours: \(validity.minQuarterHours), hours: \(validity.minHours)}")
        if !catalogChanges.isEmpty {
            lines.append("catalog:")
            for k in catalogChanges {
                lines.append(
                    "  - {kind: \(k.kind), pillar: \(k.pillar.rawValue), unit: \"\(k.unit)\", min: \(k.range.lowerBound), max: \(k.range.upperBound), shape: \(k.shape.rawValue)}"
                )
            }
        }
        lines.append("summaries:")
        lines.append("  path: \(summaries.path)")
        if let path = summaries.seriesPath { lines.append("  series_path: \(path)") }
        lines.append("  intervals: [\(summaries.intervals.map(TimeText.format).joined(separator: ", "))]")
        lines.append("  utc_offset: \"\(TimeText.offsetText(summaries.utcOffsetMinutes))\"")
        if let topic = summaries.mqttTopic { lines.append("  mqtt_topic: \"\(topic)\"") }
        lines.append("  max_bytes: \(summaries.rotation.maxBytes)")
        lines.append("  keep: \(summaries.rotation.keep)")
        lines.append("http: " + (http.map { "{listen: \"\($0.host):\($0.port)\"}" } ?? "off"))
        lines.append("state_dir: \(stateDirectory)")
        lines.append("snapshot_interval: \(TimeText.format(snapshotInterval))")
        lines.append("alerts:")
        lines.append("  path: \(alerts.path)")
        if let log = alerts.log { lines.append("  log: \(log)") }
        if let topic = alerts.mqttTopic { lines.append("  mqtt_topic: \"\(topic)\"") }
        lines.append("  max_bytes: \(alerts.rotation.maxBytes)")
        lines.append("  keep: \(alerts.rotation.keep)")
        if !ruleFiles.isEmpty {
            lines.append("rule_files:")
            for f in ruleFiles { lines.append("  - \(f)") }
        }
        lines.append("# \(rules.count) rules: \(rules.map(\.id).joined(separator: ", "))")
        if !expectedSensors.isEmpty {
            lines.append("expected_sensors:")
            for e in expectedSensors {
                lines.append(
                    "  - {park: \(e.park), zone: \(e.zone), pillar: \(e.pillar.rawValue), kind: \(e.kind), sensor: \(e.sensor)}"
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
        return lines.joined(separator: "\n") + "\n"
    }
}
