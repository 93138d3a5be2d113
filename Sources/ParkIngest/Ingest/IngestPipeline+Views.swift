import TelemetryCore

extension IngestPipeline {
    /// Every series' state, for an exposition of the sensor figures: copies taken in one lock,
    /// read outside it.
    public struct SeriesView: Sendable {
        public var ids: [SeriesID]
        public var states: [SeriesState]
        /// Each kind's catalog entry (nil for a kind outside the catalog), and each series'
        /// index in it.
        package var kinds: [KindInfo?]
        package var kindIndex: [Int32]
    }

    /// Copies taken in one lock (copy on write: the next write of ingest pays for the arrays it
    /// changes); the per-series kinds are picked out after it.
    public func seriesView() -> SeriesView {
        let (ids, states, kinds, records) = state.withLock { state in
            (state.table.ids, state.table.states, state.table.kinds, state.table.records)
        }
        return SeriesView(ids: ids, states: states, kinds: kinds, kindIndex: records.map(\.kind))
    }

    /// What the status page shows of the series, read in one lock: each series' latest raw
    /// readings (at most `limit` series, in identity order), the stale ones and the expected
    /// sensors never seen.
    public struct StatusView: Sendable {
        public var recent: [(series: SeriesID, readings: [(time: Int64, value: Double)])]
        public var seriesTotal: Int
        public var stale: [SeriesID]
        public var neverSeen: [SeriesID]
    }

    /// The sort and the set of known series run outside the ingest lock (on copies, which
    /// cost nothing while ingest does not write); the lock is taken again only to read the
    /// raw readings of the `limit` series shown.
    public func statusView(limit: Int) -> StatusView {
        let (ids, stale, expected) = state.withLock { state in
            (state.table.ids, state.staleSeries, state.rules.expected)
        }
        let shown = Array(ids.sorted().prefix(limit))
        let known = Set(ids)
        let recent = state.withLock { state in
            shown.compactMap { id -> (series: SeriesID, readings: [(time: Int64, value: Double)])? in
                // A series evicted between the two locks is left out.
                guard let slot = state.table[id] else { return nil }
                let readings = state.table.states[Int(slot)].raw.readings.filter { $0.status == .ok }
                return (id, readings.map { ($0.time.milliseconds, $0.value) })
            }
        }
        return StatusView(
            recent: recent, seriesTotal: ids.count, stale: stale.sorted(),
            neverSeen: expected.filter { !known.contains($0) }.sorted())
    }
}
