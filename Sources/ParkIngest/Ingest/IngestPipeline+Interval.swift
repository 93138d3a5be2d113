import TelemetryCore

/// Closing an interval: what a summary line, the compliance records, the history rollups and
/// the regulator feed take from the pipeline at a boundary (the message path is
/// `IngestPipeline.swift`).
extension IngestPipeline {
    /// Closes schedule k's interval: its counters, the series total and how many reported,
    /// given the interval's bounds the park and pillar summaries, and with `details` each
    /// reporting series' windows (schedule 0 only). Starts a new interval.
    public func takeInterval(
        schedule k: Int = 0, from: EventTime? = nil, to: EventTime? = nil, details: Bool = false,
        final: Bool = false
    ) -> Snapshot {
        state.withLock { state in
            var series: [SeriesReport] = []
            var reporting = 0
            for s in state.table.ids.indices where state.accounting.reportedIn(k, s) {
                reporting += 1
                guard details && k == 0 else { continue }
                let recent = state.table.records[s].recent
                let seriesState = state.table.states[s]
                series.append(
                    SeriesReport(
                        id: state.table.ids[s],
                        interval: SeriesInterval(
                            readings: Int(recent.readings), accepted: Int(recent.accepted), last: recent.last,
                            lastTime: EventTime(milliseconds: recent.lastTime)),
                        shape: seriesState.settings.shape, counts: seriesState.counts,
                        windows: Self.windows(of: seriesState, validity: state.validity)))
            }
            if k == 0 {
                state.table.resetRecent()
            }
            var parks: [ParkSummary] = []
            // Periods that ended by the boundary close first, so the day's record is in the day's line.
            if let to {
                state.compliance.advance(to: to, final: final)
                // Rollups wait out the allowed lateness: a reading that arrives late but within
                // `lateness` still lands in its interval.
                // A series that received readings during this summary interval (a backlog
                // replayed fast, a sensor emptying its buffer) keeps its interval open until
                // a reading passes its end, or it falls quiet for a whole summary interval.
                if k == 0 {
                    let records = state.table.records
                    let since = from?.milliseconds ?? .max
                    state.history.advance(
                        to: EventTime(milliseconds: to.milliseconds &- settings.allowedLatenessMilliseconds),
                        ids: state.table.ids, quiet: { records[$0].lastArrival < since })
                }
            }
            let tallies = state.compliance.takeTallies(schedule: k)
            if let from, let to {
                parks = state.accounting.close(
                    schedule: k, from: from, to: to, ids: state.table.ids, expected: state.rules.expected,
                    stale: state.staleSeries, sites: settings.parks,
                    compliance: tallies)
            } else {
                state.accounting.reset(schedule: k, to: to ?? state.newest)
            }
            let records = k == 0 ? state.compliance.takeRecords() : []
            let rollups = k == 0 ? state.history.take() : []
            let counters = state.counted.since(state.intervalStart[k])
            state.intervalStart[k] = state.counted
            if k == 0 { state.badInput.flushSuppressed() }
            return Snapshot(
                counters: counters, series: series, seriesTotal: state.table.count, seriesReporting: reporting,
                parks: parks, compliance: records, rollups: rollups)
        }
    }

    /// The regulator feed's cycles that ended at least the grace time before the later of
    /// `wallClock` and each station's own newest reading (a datalogger running ahead).
    public func takeFeedCycles(wallClock: EventTime) -> [FeedCycle] {
        state.withLock { $0.feed.take(wallClock: wallClock) }
    }

    /// Readings that came for a feed cycle already written.
    public var feedLateReadings: Int { state.withLock { $0.feed.late } }
}
