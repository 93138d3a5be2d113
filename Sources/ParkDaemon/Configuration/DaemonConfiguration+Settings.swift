import MQTTClient
import TelemetryCore

/// What the configuration asks of the MQTT client and of the ingest pipeline.
extension DaemonConfiguration {
    /// The MQTT client settings this configuration asks for.
    public var clientConfiguration: MQTTClientConfiguration {
        var client = MQTTClientConfiguration(
            url: broker.url, protocolVersion: broker.protocolVersion, clientID: broker.clientID,
            keepAlive: broker.keepAlive, username: broker.username, password: broker.password, tls: broker.tls,
            cleanSession: broker.cleanSession, sessionExpiry: UInt32(broker.sessionExpiry),
            subscriptions: subscriptions,
            reconnect: .init(initial: broker.reconnectInitial, maximum: broker.reconnectMaximum),
            watchdogTimeout: broker.watchdog, maxInflight: 1000)
        client.fallbackURLs = broker.fallbackURLs
        return client
    }

    /// The ingest pipeline's settings this configuration asks for.
    public var pipelineSettings: IngestPipeline.Settings {
        IngestPipeline.Settings(
            routes: topics.map { topic in
                TopicRoute(
                    pattern: topic.pattern,
                    decoder: PayloadDecoder(
                        format: topic.format, maxBytes: payload.maxBytes, jsonFields: payload.fields,
                        lorawanPaths: topic.paths),
                    kindAliases: topic.kinds)
            },
            catalog: catalog, windows: windows, allowedLatenessMilliseconds: Int64(latenessSeconds * 1000),
            limits: limits,
            validity: validity, rules: rules, expectedSensors: expectedSensors,
            parks: parks, utcOffsetMinutes: summaries.utcOffsetMinutes, schedules: summaries.intervals.count,
            quantileWindows: quantileMask, detailWindows: detailMask, energyWindows: energyMask,
            meterRoles: meterRoles, tariffs: tariffs,
            historyResolutionMilliseconds: history.path == nil ? 0 : history.resolutionMilliseconds)
    }

    /// Bit i: window i keeps energy sums for decibel series, read by a rule's `leq`.
    var energyMask: UInt64 {
        mask(Set(rules.filter(\.needsEnergy).compactMap(\.windowName)))
    }

    /// Bit i: window i keeps full detail, configured so or read by a rule.
    var detailMask: UInt64 {
        var read = detailWindows
        for rule in rules where rule.needsDetail { if let name = rule.windowName { read.insert(name) } }
        return mask(read)
    }

    private func mask(_ names: Set<String>) -> UInt64 {
        var mask: UInt64 = 0
        for (index, window) in windows.enumerated() where names.contains(window.name) && index < 64 {
            mask |= 1 << UInt64(index)
        }
        return mask
    }

    /// Bit i: window i keeps quantile sketches, configured so or read by a rule (p50/p95/p99).
    var quantileMask: UInt64 {
        var read = quantileWindows
        for rule in rules where rule.needsQuantiles { if let name = rule.windowName { read.insert(name) } }
        return mask(read)
    }
}
