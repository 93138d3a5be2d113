import TelemetryCore
import UplinkWire

/// What the state files keep of the pipeline besides the window snapshot
/// (`IngestPipeline+Snapshot`): pending and firing alerts, exceedance spans, open compliance
/// periods and the regulator feed's open cycles, taken for a save and put back on a restart.
extension IngestPipeline {
    /// Pending and firing alerts, for the state snapshot.
    public var activeAlerts: [RuleEngine.ActiveAlert] {
        state.withLock { $0.rules.engine?.active ?? [] }
    }

    /// Restores saved alerts; returns how many no longer apply.
    public func restoreAlerts(_ alerts: [RuleEngine.ActiveAlert], at time: EventTime) -> Int {
        state.withLock { $0.rules.restore(alerts, at: time) }
    }

    /// Regulatory exceedance spans still counted by a summary schedule, for the alert state file.
    public var episodes: [Exceedance] {
        state.withLock { state in
            state.accounting.spans.values.sorted { $0.id < $1.id }
        }
    }

    /// Puts saved spans back, so that minutes in exceedance go on counting after a restart:
    /// an open span continues (the engine does not start a second one).
    public func restoreEpisodes(_ episodes: [Exceedance], at time: EventTime) {
        state.withLock { state in
            state.accounting.restore(episodes)
            state.rules.restoreExceedances(episodes, at: time)
        }
    }

    /// Each station's calendar year so far (valid days, mean of valid daily means).
    public var complianceYearToDate: [(series: SeriesID, start: EventTime, validDays: Int, days: Int, mean: Double?)] {
        state.withLock { $0.compliance.yearToDate }
    }

    /// Compliance trackers held, of live series and retired ones (bounded: `ComplianceStage.retiredCap`).
    package var complianceTrackerCount: Int { state.withLock { $0.compliance.trackerCount } }

    /// Each station's open compliance periods, for the state file.
    public var complianceTrackers: Zip2Sequence<[SeriesID], [ComplianceTracker]> {
        state.withLock { $0.compliance.saved }
    }

    /// Puts saved open periods back (stations a rule still judges); returns how many.
    @discardableResult
    public func restoreCompliance(_ saved: [(SeriesID, ComplianceTracker)]) -> Int {
        state.withLock { $0.compliance.restore(saved) }
    }

    /// The regulator feed's open cycles and position, for the state file.
    package var feedState: RegulatorFeedStage.Saved? {
        state.withLock { $0.feed.isEmpty ? nil : $0.feed.saved }
    }

    /// False when the state is of another cycle length (nothing is taken from it).
    package func restoreFeed(_ saved: RegulatorFeedStage.Saved) -> Bool {
        state.withLock { $0.feed.restore(saved) }
    }
}
