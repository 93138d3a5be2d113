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
        for section in Self.atRestartSections {
            var changed = old
            section.copy(&changed, fresh)
            if changed != old { later.append(section.name) }
        }
        // Whatever is left once every known section is taken from the new file must be equal;
        // if not, a setting exists that this plan does not know, and it is named, not lost.
        var known = old
        for section in Self.liveSections + Self.atRestartSections { section.copy(&known, fresh) }
        if known != fresh { later.append("other settings") }
        atRestart = later.sorted()
    }

    /// The configuration in force after a reload: what applies while running comes from the
    /// new file, the rest keeps its running value until the restart.
    package static func inForce(old: DaemonConfiguration, fresh: DaemonConfiguration) -> DaemonConfiguration {
        var inForce = old
        for section in liveSections { section.copy(&inForce, fresh) }
        return inForce
    }

    /// A section of the configuration: its name, and how to take it from another configuration.
    private typealias Section = (name: String, copy: @Sendable (inout DaemonConfiguration, DaemonConfiguration) -> Void)

    /// Applied while running.
    private static var liveSections: [Section] {
        [
            ("file", { $0.file = $1.file }),
            (
                "broker",
                {
                    $0.broker = $1.broker
                    $0.subscriptions = $1.subscriptions
                }
            ),
            (
                "rules",
                {
                    $0.rules = $1.rules
                    $0.ruleFiles = $1.ruleFiles
                    $0.inlineRules = $1.inlineRules
                    $0.expectedSensors = $1.expectedSensors
                    $0.limits = $1.limits
                }
            ),
            ("alerts", { $0.alerts = $1.alerts }),
            (
                "summaries",
                {
                    // The files and topics; the intervals and the offset wait for a restart.
                    let kept = ($0.summaries.intervals, $0.summaries.utcOffsetMinutes)
                    $0.summaries = $1.summaries
                    ($0.summaries.intervals, $0.summaries.utcOffsetMinutes) = kept
                }
            ),
        ]
    }

    /// Applied at the next restart, by the names the log gives them.
    private static var atRestartSections: [Section] {
        [
            ("payload", { $0.payload = $1.payload }),
            ("topics", { $0.topics = $1.topics }),
            (
                "windows",
                {
                    $0.windows = $1.windows
                    $0.quantileWindows = $1.quantileWindows
                    $0.detailWindows = $1.detailWindows
                    $0.addedWindows = $1.addedWindows
                }
            ),
            ("lateness", { $0.latenessSeconds = $1.latenessSeconds }),
            ("validity", { $0.validity = $1.validity }),
            (
                "catalog",
                {
                    $0.catalog = $1.catalog
                    $0.catalogChanges = $1.catalogChanges
                }
            ),
            ("history", { $0.history = $1.history }),
            ("uplink", { $0.uplink = $1.uplink }),
            ("state_dir", { $0.stateDirectory = $1.stateDirectory }),
            ("snapshot_interval", { $0.snapshotInterval = $1.snapshotInterval }),
            (
                "http",
                {
                    $0.listen = $1.listen
                    $0.probeListen = $1.probeListen
                }
            ),
            ("parks", { $0.parks = $1.parks }),
            ("expected_sensors (meter roles)", { $0.meterRoles = $1.meterRoles }),
            ("tariffs", { $0.tariffs = $1.tariffs }),
            ("log", { $0.logLevel = $1.logLevel }),
            (
                "summaries.intervals",
                {
                    $0.summaries.intervals = $1.summaries.intervals
                    $0.summaries.utcOffsetMinutes = $1.summaries.utcOffsetMinutes
                }
            ),
        ]
    }
}
