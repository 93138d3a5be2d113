import ParkConfig

/// What a SIGHUP does, worked out from two configurations section by section (`Equatable`),
/// never from their printed text: what changes while running, and what waits for a restart.
/// Every difference lands in one of the two: `unaccounted` catches a setting added to the
/// configuration but not here, and names it instead of ignoring it.
package struct ReloadPlan: Equatable {
    /// The broker section or the subscriptions changed (watchdog and reconnect included): a
    /// new connection replaces the running one.
    package var reconnect = false
    package var reopenAlerts = false
    package var reopenSummaries = false
    package var reopenSeries = false
    package var reopenCompliance = false
    /// Rules, expected sensors and limits: handed to the pipeline on every reload.
    package var pipelineChanged = false
    /// Which windows keep sketches or detail: needs new rings, so a restart.
    package var windowMemoryChanged = false
    /// Sections whose change applies at the next restart, by their YAML names.
    package var atRestart: [String] = []

    package init(from old: DaemonConfiguration, to fresh: DaemonConfiguration) {
        reconnect = fresh.broker != old.broker || fresh.subscriptions != old.subscriptions
        reopenAlerts =
            fresh.alerts.path != old.alerts.path || fresh.alerts.log != old.alerts.log
            || fresh.alerts.rotation != old.alerts.rotation
        reopenSummaries =
            fresh.summaries.path != old.summaries.path || fresh.summaries.rotation != old.summaries.rotation
        reopenSeries = fresh.summaries.seriesPath != old.summaries.seriesPath
        reopenCompliance = fresh.summaries.compliancePath != old.summaries.compliancePath
        pipelineChanged =
            fresh.rules != old.rules || fresh.expectedSensors != old.expectedSensors || fresh.limits != old.limits
        windowMemoryChanged =
            fresh.quantileMask != old.quantileMask || fresh.detailMask != old.detailMask
            || fresh.energyMask != old.energyMask

        var later: [String] = []
        func note(_ name: String, _ changed: Bool) { if changed { later.append(name) } }
        note("payload", fresh.payload != old.payload)
        note("topics", fresh.topics != old.topics)
        note(
            "windows",
            fresh.windows != old.windows || fresh.quantileWindows != old.quantileWindows
                || fresh.detailWindows != old.detailWindows || fresh.addedWindows != old.addedWindows)
        note("lateness", fresh.latenessSeconds != old.latenessSeconds)
        note("validity", fresh.validity != old.validity)
        note("catalog", fresh.catalog != old.catalog || fresh.catalogChanges != old.catalogChanges)
        note("history", fresh.history != old.history)
        note("uplink", fresh.uplink != old.uplink)
        note("state_dir", fresh.stateDirectory != old.stateDirectory)
        note("snapshot_interval", fresh.snapshotInterval != old.snapshotInterval)
        note("http", fresh.listen != old.listen)
        note("parks", fresh.parks != old.parks)
        note("expected_sensors (meter roles)", fresh.meterRoles != old.meterRoles)
        note("tariffs", fresh.tariffs != old.tariffs)
        note("log", fresh.logLevel != old.logLevel)
        note(
            "summaries.intervals",
            fresh.summaries.intervals != old.summaries.intervals
                || fresh.summaries.utcOffsetMinutes != old.summaries.utcOffsetMinutes)

        // Whatever is left once every section above is set back must be equal; if not, a
        // setting exists that this plan does not know, and it is named rather than lost.
        var rest = fresh
        rest.file = old.file
        rest.broker = old.broker
        rest.subscriptions = old.subscriptions
        rest.alerts = old.alerts
        rest.summaries = old.summaries
        rest.rules = old.rules
        rest.ruleFiles = old.ruleFiles
        rest.inlineRules = old.inlineRules
        rest.expectedSensors = old.expectedSensors
        rest.limits = old.limits
        rest.payload = old.payload
        rest.topics = old.topics
        rest.windows = old.windows
        rest.quantileWindows = old.quantileWindows
        rest.detailWindows = old.detailWindows
        rest.addedWindows = old.addedWindows
        rest.latenessSeconds = old.latenessSeconds
        rest.validity = old.validity
        rest.catalog = old.catalog
        rest.catalogChanges = old.catalogChanges
        rest.history = old.history
        rest.uplink = old.uplink
        rest.stateDirectory = old.stateDirectory
        rest.snapshotInterval = old.snapshotInterval
        rest.listen = old.listen
        rest.parks = old.parks
        rest.meterRoles = old.meterRoles
        rest.tariffs = old.tariffs
        rest.logLevel = old.logLevel
        note("other settings", rest != old)
        atRestart = later.sorted()
    }
}
