import TelemetryCore
import UplinkWire

/// Stage 4, series: every series parkd holds, by slot, with its window state. A slot is an
/// index into parallel arrays; the other stages keep their per-series figures under the same
/// slot, and compact them with the same mask when series are evicted.
package struct SeriesTable {
    /// One series' figures over the current shortest summary interval, for per-series detail.
    package struct Recent {
        package var readings: UInt32 = 0
        package var accepted: UInt32 = 0
        package var last = Double.nan
        package var lastTime = Int64.min
    }

    /// What the table keeps per series besides its state, side by side (one cache line).
    package struct Record {
        /// When a reading last arrived (not its event time), for eviction.
        package var lastArrival: Int64
        /// Its kind's index in `kindTable`: a kind's catalog entry is kept once.
        package var kind: Int32
        package var recent = Recent()
    }

    private(set) var ids: [SeriesID] = []
    /// Series → slot (the ids are in `ids`).
    private var slots = SlotIndex()
    package var states: [SeriesState] = []
    private var kindTable: [KindInfo?] = []
    /// Per kind (as `kindTable`): its catalog unit, nil outside the catalog.
    private var kindUnits: [String?] = []
    /// Per kind (as `kindTable`): the window settings its series share.
    private var kindSettings: [SeriesState.SharedSettings] = []
    private var kindIndex: [String: Int32] = [:]
    package var records: [Record] = []
    /// Series per park, for `limits.max_series_per_park`.
    private(set) var parkSeries: [String: Int] = [:]

    package let windows: [WindowSpec]
    package let catalog: SensorCatalog
    package let allowedLatenessMilliseconds: Int64
    /// Bit i: window i keeps quantile sketches; full detail.
    package let quantileWindows: UInt64
    package let detailWindows: UInt64
    package let energyWindows: UInt64

    package init(
        windows: [WindowSpec], catalog: SensorCatalog, allowedLatenessMilliseconds: Int64, quantileWindows: UInt64,
        detailWindows: UInt64, energyWindows: UInt64 = .max
    ) {
        self.energyWindows = energyWindows
        self.windows = windows
        self.catalog = catalog
        self.allowedLatenessMilliseconds = allowedLatenessMilliseconds
        self.quantileWindows = quantileWindows
        self.detailWindows = detailWindows
    }

    package var count: Int { ids.count }

    /// Each kind's catalog entry, by the index `records[s].kind` holds (a copy costs nothing
    /// until ingest writes: copy on write).
    package var kinds: [KindInfo?] { kindTable }

    /// Series `s`'s window settings, read in place (`states[s].settings` would copy the state).
    package func settings(_ s: Int) -> SeriesState.Settings {
        states.withUnsafeBufferPointer { $0[s].settings }
    }

    /// The catalog entry of series `s`'s kind (nil for a kind outside the catalog).
    package func kind(_ s: Int) -> KindInfo? { kindTable[Int(records[s].kind)] }

    /// Whether a reading of series `s` sent in `unit` is already in the unit the series is
    /// kept in (no unit, its kind's catalog unit, or a kind outside the catalog): what
    /// `SensorCatalog.normalise` returns unchanged. Nearly every reading: compared without
    /// copying the catalog entry, whose names were retained and released per reading.
    package func keepsUnit(_ s: Int, _ unit: String?) -> Bool {
        guard let unit else { return true }
        let kind = Int(records[s].kind)
        return kindUnits.withUnsafeBufferPointer { units in units[kind].map { $0 == unit } ?? true }
    }

    /// Starts every series' interval figures afresh.
    package mutating func resetRecent() {
        for s in records.indices { records[s].recent = Recent() }
    }

    package subscript(id: SeriesID) -> Int32? { slots.slot(of: id) { ids[Int($0)] } }

    /// The window settings a series of `id` gets (shape and range from the catalog).
    package func settings(for id: SeriesID) -> SeriesState.Settings {
        var settings = SeriesState.Settings()
        settings.allowedLatenessMilliseconds = allowedLatenessMilliseconds
        settings.quantileWindows = quantileWindows
        settings.detailWindows = detailWindows
        settings.energyWindows = energyWindows
        if let info = catalog[id.kind] {
            settings.shape = info.shape
            settings.range = info.range
            settings.decibels = info.unit == "dBA"
        }
        return settings
    }

    /// The settings of `id`'s kind: the box its open series share, or else one from `cache`
    /// (restored series share those among themselves; the values are the same).
    package func sharedSettings(
        for id: SeriesID, cache: inout [String: SeriesState.SharedSettings]
    ) -> SeriesState.SharedSettings {
        if let kind = kindIndex[id.kind] { return kindSettings[Int(kind)] }
        if let made = cache[id.kind] { return made }
        let made = SeriesState.SharedSettings(settings(for: id))
        cache[id.kind] = made
        return made
    }

    /// Opens a series (the caller checked the limits) and returns its slot.
    mutating func open(_ id: SeriesID, arrival: EventTime, state: SeriesState? = nil) -> Int32 {
        if let existing = self[id] { return existing }
        let slot = Int32(ids.count)
        ids.append(id)
        let kind: Int32
        if let known = kindIndex[id.kind] {
            kind = known
        } else {
            kind = Int32(kindTable.count)
            kindIndex[id.kind] = kind
            kindTable.append(catalog[id.kind])
            kindUnits.append(catalog[id.kind]?.unit)
            kindSettings.append(SeriesState.SharedSettings(settings(for: id)))
        }
        records.append(Record(lastArrival: arrival.milliseconds, kind: kind))
        parkSeries[id.park, default: 0] += 1
        states.append(state ?? SeriesState(windows: windows, shared: kindSettings[Int(kind)]))
        slots.insert(id, slot: slot)
        return slot
    }

    /// Notes what became of a reading of series `s` for its per-series detail, and when it
    /// arrived (nil: a retained copy, no sign of life), for eviction. One access to the record.
    package mutating func note(_ s: Int, _ outcome: SeriesState.Outcome, _ reading: Reading, arrival: Int64?) {
        precondition(records.indices.contains(s), "slot \(s) of \(records.count)")
        records.withUnsafeMutableBufferPointer { records in
            if let arrival { records[s].lastArrival = max(records[s].lastArrival, arrival) }
            records[s].recent.readings &+= 1
            guard outcome == .accepted else { return }
            records[s].recent.accepted &+= 1
            records[s].recent.last = reading.value
            records[s].recent.lastTime = reading.time.milliseconds
        }
    }

    /// Slots silent longer than `ttl` at `time` (on the arrival clock) that `keep` does not hold.
    package func silent(at time: EventTime, ttl: Int64, keep: (Int) -> Bool) -> [Int] {
        ids.indices.filter { time.milliseconds - records[$0].lastArrival > ttl && !keep($0) }
    }

    /// Removes the `gone` slots; returns the mask other stages compact with (true: kept).
    package mutating func remove(_ gone: [Int]) -> [Bool] {
        var kept = Array(repeating: true, count: ids.count)
        for index in gone {
            kept[index] = false
            let park = ids[index].park
            parkSeries[park, default: 1] -= 1
            // A park with no series left is forgotten: names from topics must not pile up.
            if parkSeries[park] == 0 { parkSeries.removeValue(forKey: park) }
        }
        ids = ids.compacted(kept)
        states = states.compacted(kept)
        records = records.compacted(kept)
        slots = SlotIndex(count: ids.count) { ids[Int($0)] }
        forgetUnusedKinds()
        return kept
    }

    /// Drops the kinds no series holds any more and renumbers the rest. With
    /// `allow_unknown_kinds`, every new kind name a topic carries got an entry that outlived its
    /// series, so a sender cycling names grew these tables for as long as parkd ran.
    private mutating func forgetUnusedKinds() {
        var used = [Bool](repeating: false, count: kindTable.count)
        for record in records { used[Int(record.kind)] = true }
        guard used.contains(false) else { return }
        let renumbered = used.renumbering
        for s in records.indices { records[s].kind = renumbered[Int(records[s].kind)] }
        kindIndex = kindIndex.renumbered(renumbered)
        kindTable = kindTable.compacted(used)
        kindUnits = kindUnits.compacted(used)
        kindSettings = kindSettings.compacted(used)
    }

    /// Kinds and parks held (for tests: both shrink as series are evicted).
    package var heldNames: (kinds: Int, parks: Int) { (kindTable.count, parkSeries.count) }
}

extension [Bool] {
    /// Each index's place among the true ones (as `compacted` keeps them), or -1 where false.
    package var renumbering: [Int32] {
        var next: Int32 = 0
        return map { kept in
            defer { if kept { next += 1 } }
            return kept ? next : -1
        }
    }
}

extension Dictionary where Value == Int32 {
    /// Each value moved to its place in `renumbering` (from `[Bool].renumbering`); the keys
    /// whose place is gone (-1) are dropped.
    package func renumbered(_ renumbering: [Int32]) -> Self {
        compactMapValues { renumbering[Int($0)] < 0 ? nil : renumbering[Int($0)] }
    }
}

extension Array {
    /// The elements whose flag in `kept` is true, in order.
    package func compacted(_ kept: [Bool]) -> [Element] {
        var result: [Element] = []
        result.reserveCapacity(count)
        for index in indices where kept[index] { result.append(self[index]) }
        return result
    }
}
