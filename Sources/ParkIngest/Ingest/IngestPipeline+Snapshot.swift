import TelemetryCore

/// The window snapshot: every series' state saved, and restored into an empty pipeline.
extension IngestPipeline {
    /// Every series' window state as bytes: versioned and checksummed. The states are copied
    /// under the lock (cheap: copy on write) and encoded outside it, so ingest waits little.
    public func snapshot(at time: EventTime) -> [UInt8] {
        var bytes: [UInt8] = []
        snapshot(at: time) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// As `snapshot(at:)`, handed to `write` in pieces (a file written as it is encoded). The
    /// series are copied in one lock (copy on write: only what ingest changes meanwhile is
    /// duplicated) and encoded outside it.
    public func snapshot<E: Error>(at time: EventTime, write: ([UInt8]) throws(E) -> Void) throws(E) {
        let (ids, states, counters, arrivals, started) = state.withLock { state in
            (
                state.table.ids, state.table.states, state.table.ids.indices.map { state.accounting.counter(slot: $0) },
                state.table.lastArrival, state.rules.engine?.startedAt
            )
        }
        try WindowSnapshot.encode(
            at: time, engineStartedAt: started, ids: ids, states: states, counters: counters, arrivals: arrivals,
            write: write)
    }

    /// Restores a snapshot into an empty pipeline; returns the series restored and when the
    /// snapshot was taken. A torn, corrupt or foreign file throws and changes nothing.
    public func restore(snapshot bytes: [UInt8]) throws(SnapshotError) -> (series: Int, savedAt: EventTime) {
        let (maxSeries, table) = state.withLock { ($0.limits.maxSeries, $0.table) }
        let decoded = try WindowSnapshot.decode(
            bytes, maxSeries: maxSeries, windows: settings.windows, settings: { table.settings(for: $0) })
        state.withLock { state in
            var seen: [(series: SeriesID, at: EventTime)] = []
            for series in decoded.series where state.table.count < state.limits.maxSeries {
                let arrival = EventTime(milliseconds: series.arrival)
                let slot = open(series.id, arrival: arrival, in: &state, restoring: series.state)
                state.table.states[Int(slot)] = series.state
                state.accounting.restoreCounter(slot: Int(slot), series.counter)
                seen.append((series.id, arrival))
            }
            // Restored series take part in stale rules: one that died before the restart is
            // reported, and a firing stale alert stays firing instead of resolving.
            state.rules.restoreSeen(seen, startedAt: decoded.engineStartedAt ?? decoded.savedAt)
        }
        return (decoded.series.count, decoded.savedAt)
    }
}
