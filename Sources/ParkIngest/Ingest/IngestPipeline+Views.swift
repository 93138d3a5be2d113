import TelemetryCore

extension IngestPipeline {
    /// What an exposition of the sensor figures shows of the series: for each series shown,
    /// its newest measurement and the mean of each chosen window, read under the lock.
    public struct SensorView: Sendable {
        public struct Series: Sendable {
            public var id: SeriesID
            /// Its kind's index in `kinds`.
            public var kind: Int32
            /// The newest measurement: a reading in error, calibrating or out of range is no value.
            public var last: (value: Double, time: EventTime)?
            /// Each chosen window holding readings at the series' newest reading, with its mean.
            public var means: [(window: String, mean: Double)]
        }

        public var series: [Series]
        /// Each kind's catalog entry (nil for a kind outside the catalog).
        public var kinds: [KindInfo?]
        /// Series held, shown or not.
        public var total: Int
    }

    /// The figures of at most `limit` series (those first in identity order when there are
    /// more, so the same ones from call to call) for the windows at `windows`. They are read
    /// `WindowSnapshot.seriesPerChunk` series at a time under the lock, with ingest running
    /// between chunks: nothing is copied, so a scrape during heavy ingest makes no series copy
    /// its buckets (a copy-on-write copy of every state did). A series evicted meanwhile is left out.
    public func sensorView(windows: [Int], limit: Int) -> SensorView {
        let listed = seriesListed
        return sensorView(listed, windows: windows, limit: limit)
    }

    /// The series held, each kind's catalog entry, and each series' kind index in those, as
    /// `sensorView` lists them first.
    package struct SeriesListing {
        package var ids: [SeriesID]
        package var kinds: [KindInfo?]
        /// Per series (as `ids`): its kind's index in `kinds`. Taken with the list, because an
        /// eviction renumbers the table's kinds while the view reads on.
        package var kindOf: [Int32]
    }

    package var seriesListed: SeriesListing {
        state.withLock { SeriesListing(ids: $0.table.ids, kinds: $0.table.kinds, kindOf: $0.table.records.map(\.kind)) }
    }

    /// As `sensorView(windows:limit:)`, for the series listed earlier: their slots may have
    /// moved since (an eviction compacts them), so each is checked by name.
    package func sensorView(_ listed: SeriesListing, windows: [Int], limit: Int) -> SensorView {
        let (ids, kinds) = (listed.ids, listed.kinds)
        let shown =
            ids.count > limit
            ? Array(ids.indices.sorted { ids[$0] < ids[$1] }.prefix(limit)) : Array(ids.indices)
        var series: [SensorView.Series] = []
        series.reserveCapacity(shown.count)
        var next = 0
        while next < shown.count {
            let end = min(shown.count, next + WindowSnapshot.seriesPerChunk)
            state.withLock { state in
                for slot in shown[next..<end] {
                    let id = ids[slot]
                    // Slots move when series are evicted: find the series again by name if so.
                    let s =
                        slot < state.table.count && state.table.ids[slot] == id ? slot : state.table[id].map(Int.init)
                    guard let s else { continue }
                    series.append(Self.figures(of: id, kind: listed.kindOf[slot], state.table.states[s], windows))
                }
            }
            next = end
        }
        return SensorView(series: series, kinds: kinds, total: ids.count)
    }

    private static func figures(of id: SeriesID, kind: Int32, _ state: borrowing SeriesState, _ windows: [Int])
        -> SensorView.Series
    {
        let settings = state.settings
        let last = state.raw.newest(where: { $0.status == .ok && !settings.isOutOfRange($0.value) })
        var means: [(window: String, mean: Double)] = []
        if let now = state.watermark {
            for w in windows {
                let (name, stats) = state.withWindow(w) { ($0.spec.name, $0.stats(at: now, quantiles: false)) }
                if stats.count > 0 { means.append((name, stats.mean)) }
            }
        }
        return SensorView.Series(id: id, kind: kind, last: last.map { ($0.value, $0.time) }, means: means)
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

    public var status: Status {
        state.withLock { state in
            return Status(
                totals: state.counted, series: state.table.count,
                firingAlerts: (state.rules.engine?.firing.count ?? 0) + state.sparkplug.offline.count,
                alertQueue: state.rules.alerts.count, transitions: state.rules.transitions,
                seriesEvicted: state.evictedTotal,
                newest: state.newest.milliseconds == .min ? nil : state.newest)
        }
    }

    /// One series' windows at its watermark, and its shape, or nil when the series is unknown.
    public func windows(of id: SeriesID) -> (
        windows: [(name: String, stats: WindowStats, validity: WindowValidity?)], shape: MeasureShape
    )? {
        let found = state.withLock { state in
            state.table[id].map { (state.table.states[Int($0)], state.validity) }
        }
        guard let (series, validity) = found else { return nil }
        return (Self.windows(of: series, validity: validity), series.settings.shape)
    }

    package static func windows(of series: SeriesState, validity: ValidityRule) -> [(
        name: String, stats: WindowStats, validity: WindowValidity?
    )] {
        series.windows.map { ring in
            guard let now = series.watermark else {
                return (name: ring.spec.name, stats: WindowStats(), validity: WindowValidity?.none)
            }
            return (name: ring.spec.name, stats: ring.stats(at: now), validity: validity.assess(ring, at: now))
        }
    }

    /// The alerts firing now.
    /// Sparkplug deaths' `sparkplug_offline` alerts among them.
    public var firingAlerts: [(rule: String, series: SeriesID, since: EventTime)] {
        state.withLock { state in
            (state.rules.engine?.firing ?? [])
                + state.sparkplug.offline.map { (Self.sparkplugOfflineRule, $0.series, $0.since) }
        }
    }

    /// Counts since start, the current interval included.
    public var totals: IngestCounters {
        state.withLock { $0.counted }
    }

    public var seriesCount: Int { state.withLock { $0.table.count } }

    /// The state of one series, for inspection.
    public func seriesState(_ id: SeriesID) -> SeriesState? {
        state.withLock { state in state.table[id].map { state.table.states[Int($0)] } }
    }
}
