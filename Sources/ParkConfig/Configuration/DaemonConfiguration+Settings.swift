import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

/// What the configuration asks of the MQTT client and of the ingest pipeline.
extension DaemonConfiguration {
    /// The MQTT client settings this configuration asks for.
    public var clientConfiguration: MQTTClientConfiguration {
        broker.clientConfiguration(subscriptions: subscriptions, watchdog: broker.watchdog, maxInflight: 1000)
    }

    /// The ingest pipeline's settings this configuration asks for.
    public var pipelineSettings: IngestPipeline.Settings {
        var settings = IngestPipeline.Settings(
            routes: topics.map { topic in
                if let mapping = topic.sparkplug {
                    var route = TopicRoute.sparkplug(mapping, kinds: topic.kinds)
                    route.decoder = PayloadDecoder(format: .json, maxBytes: payload.maxBytes)
                    return route
                }
                return TopicRoute(
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
        settings.compliance = compliancePolicy
        if let sparkplug { settings.sparkplug = sparkplug.hostSettings }
        if let feed {
            settings.feedStations = feed.stations
            settings.feedCycleMilliseconds = feed.format.cycleMilliseconds
            settings.feedGraceMilliseconds = Int64(feed.graceSeconds * 1000)
        }
        return settings
    }

    /// Compliance periods close after `lateness`; `compliance:` sets revisions and time weights.
    package var compliancePolicy: CompliancePolicy {
        var policy = summaries.compliancePolicy
        policy.latenessMilliseconds = Int64(latenessSeconds * 1000)
        return policy
    }

    /// Bit i: window i keeps energy sums for decibel series, read by a rule's `leq`.
    package var energyMask: UInt64 {
        mask(Set(rules.filter(\.needsEnergy).compactMap(\.windowName)))
    }

    /// Bit i: window i keeps full detail, configured so or read by a rule.
    package var detailMask: UInt64 {
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
    package var quantileMask: UInt64 {
        var read = quantileWindows
        for rule in rules where rule.needsQuantiles { if let name = rule.windowName { read.insert(name) } }
        return mask(read)
    }
}

extension DaemonConfiguration.Broker {
    /// A client for this broker section (`broker:`, `uplink.broker:`, a central worker's):
    /// its addresses, session, credentials, TLS and backoff, with what the user adds.
    package func clientConfiguration(
        clientID: String? = nil, cleanSession: Bool? = nil, subscriptions: [MQTTClientConfiguration.Subscription],
        watchdog: Double?, maxInflight: Int
    ) -> MQTTClientConfiguration {
        var client = MQTTClientConfiguration(
            url: url, protocolVersion: protocolVersion, clientID: clientID ?? self.clientID, keepAlive: keepAlive,
            username: username, password: password, tls: tls, cleanSession: cleanSession ?? self.cleanSession,
            sessionExpiry: UInt32(sessionExpiry), subscriptions: subscriptions,
            reconnect: .init(initial: reconnectInitial, maximum: reconnectMaximum), watchdogTimeout: watchdog,
            maxInflight: maxInflight)
        client.fallbackURLs = fallbackURLs
        client.connectTimeout = connectTimeout
        return client
    }
}
