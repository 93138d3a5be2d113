import TelemetryCore
import UplinkWire

/// Stage 3, admit and normalise: whether a decoded reading may enter a series, whether it may
/// open a new one, and its value in the catalog's unit. Nothing here keeps state: the limits
/// and catalog in force are handed in.
package struct Admission {
    package let catalog: SensorCatalog

    /// A reading refused for its time (too far ahead of or behind its arrival), or a retained
    /// copy without a time of its own: counted as an outcome of its series, never stored.
    package static func refusal(_ reading: Reading, arrival: EventTime, retained: Bool, limits: IngestPipeline.Limits)
        -> SeriesState.Outcome?
    {
        retained && !reading.timed ? .retained : limits.time.check(reading.time, arrival: arrival)
    }

    /// Why a series may not open for `id`, or nil when it may. `named`: the kind came from a
    /// name in the payload (checked here; a topic's levels are checked with the topic).
    package func openingProblem(
        _ id: SeriesID, named: Bool, openedByMessage: Int, parkSeries: Int, totalSeries: Int,
        limits: IngestPipeline.Limits
    ) -> (reason: RejectReason, detail: () -> String)? {
        // Checked when a series would open: a name that already names one passed this before.
        if named && !FieldName.isValid(id.kind) {
            return (.badName, { "reading name '\(id.kind)' is not [A-Za-z0-9][A-Za-z0-9:./_-]* of up to 64 bytes" })
        }
        if !limits.allowUnknownKinds && catalog[id.kind] == nil {
            return (
                .unknownKind,
                {
                    "kind '\(id.kind)' of \(id) is not in the sensor catalog (add it under catalog:, map it under kinds:, or set limits.allow_unknown_kinds)"
                }
            )
        }
        if openedByMessage >= limits.maxNewSeriesPerMessage {
            return (
                .messageSeriesLimit,
                {
                    "one message opens more than \(limits.maxNewSeriesPerMessage) new series (limits.max_new_series_per_message); \(id) refused"
                }
            )
        }
        if parkSeries >= limits.maxSeriesPerPark {
            return (
                .parkSeriesLimit,
                {
                    "park '\(id.park)' has \(limits.maxSeriesPerPark) series (limits.max_series_per_park); \(id) refused"
                }
            )
        }
        if totalSeries >= limits.maxSeries {
            return (.seriesLimit, { "new series \(id) past the limit of \(limits.maxSeries) (limits.max_series)" })
        }
        return nil
    }

    /// The reading in its kind's catalog unit (`bad_unit` when it cannot be converted).
    package static func normalise(_ reading: Reading, info: KindInfo?) throws(PayloadError) -> Reading {
        try SensorCatalog.normalise(reading, info: info)
    }
}
