import TelemetryCore

/// The window snapshot: every series' state saved, and restored into an empty pipeline.
extension IngestPipeline {
    /// Every series' window state as bytes: versioned and checksummed.
    public func snapshot(at time: EventTime) -> [UInt8] {
        var bytes: [UInt8] = []
        snapshot(at: time) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// As `snapshot(at:)`, handed to `write` in pieces (a file written as it is encoded). The
    /// series are encoded in place, `WindowSnapshot.seriesPerChunk` at a time under the lock,
    /// with ingest running between chunks; nothing is copied. Eviction waits until the
    /// snapshot is written, so the slots stay put; series opened meanwhile are in the next one.
    public func snapshot<E: Error>(at time: EventTime, write: ([UInt8]) throws(E) -> Void) throws(E) {
        let (count, started) = state.withLock { state in
            state.savingSnapshot += 1
            return (state.table.count, state.rules.engine?.startedAt)
        }
        defer { state.withLock { $0.savingSnapshot -= 1 } }
        try WindowSnapshot.encode(
            at: time, engineStartedAt: started, count: count,
            chunk: { range, w in
                state.withLock { state in
                    for s in range {
                        WindowSnapshot.encodeSeries(
                            state.table.ids[s], counter: state.accounting.counter(slot: s),
                            arrival: state.table.records[s].lastArrival, state: state.table.states[s], into: &w)
                        if w.count >= WindowSnapshot.chunkBytes { return s + 1 }
                    }
                    return range.upperBound
                }
            }, write: write)
    }

    /// Restores a snapshot into an empty pipeline; returns the series restored and when the
    /// snapshot was taken. A torn, corrupt or foreign file throws and changes nothing.
    public func restore(snapshot bytes: [UInt8]) throws(SnapshotError) -> (series: Int, savedAt: EventTime) {
        try restore(reading: {
            var whole: [UInt8]? = bytes
            return {
                defer { whole = nil }
                return whole
            }
        })
    }

    /// As `restore(snapshot:)`, from a file read in pieces, so that the file is never whole in
    /// memory beside the series it restores: each call of `fromStart` reads it from its start,
    /// and the function it returns gives the next piece (nil at the end).
    public func restore(
        reading fromStart: () -> () -> [UInt8]?
    ) throws(SnapshotError) -> (series: Int, savedAt: EventTime) {
        let (maxSeries, table) = state.withLock { ($0.limits.maxSeries, $0.table) }
        var shared: [String: SeriesState.SharedSettings] = [:]
        let decoded = try WindowSnapshot.decode(
            reading: fromStart, maxSeries: maxSeries, windows: settings.windows,
            settings: { table.sharedSettings(for: $0, cache: &shared) })
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
