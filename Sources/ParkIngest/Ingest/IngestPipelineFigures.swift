import TelemetryCore
import UplinkWire

/// What a pipeline hands out: an interval's figures (`Snapshot`, per series `SeriesReport`) and
/// its running totals (`Status`).
extension IngestPipeline {
    /// One series' figures over the current shortest summary interval.
    public struct SeriesInterval: Sendable, Equatable {
        public var readings = 0
        public var accepted = 0
        public var last: Double = .nan
        public var lastTime = EventTime(milliseconds: 0)
    }

    /// One series in detail: its interval figures, cumulative outcomes and windows.
    public struct SeriesReport: Sendable {
        public var id: SeriesID
        public var interval: SeriesInterval
        public var shape: MeasureShape
        /// Every outcome since the series opened (or was restored).
        public var counts: SeriesState.Counts
        /// Each window's statistics and validity as of the series' newest event time.
        public var windows: [(name: String, stats: WindowStats, validity: WindowValidity?)]
    }

    public struct Snapshot: Sendable {
        public var counters: IngestCounters
        /// Per-series detail, only when asked for (`takeInterval(details: true)`).
        public var series: [SeriesReport]
        public var seriesTotal: Int
        public var seriesReporting: Int
        /// Per park and pillar (filled by `takeInterval(from:to:)`).
        public var parks: [ParkSummary] = []
        /// Compliance records of the periods closed since the last interval (schedule 0 only).
        public var compliance: [ComplianceRecord] = []
        /// History rollups closed since the last interval (schedule 0 only).
        public var rollups: [Rollup] = []

        package init(
            counters: IngestCounters,
            series: [SeriesReport],
            seriesTotal: Int,
            seriesReporting: Int,
            parks: [ParkSummary] = [],
            compliance: [ComplianceRecord] = [],
            rollups: [Rollup] = []
        ) {
            self.counters = counters
            self.series = series
            self.seriesTotal = seriesTotal
            self.seriesReporting = seriesReporting
            self.parks = parks
            self.compliance = compliance
            self.rollups = rollups
        }
    }

    /// Figures for metrics and health, read in one lock.
    public struct Status: Sendable {
        public var totals: IngestCounters
        public var series: Int
        public var firingAlerts: Int
        public var alertQueue: Int
        public var transitions: [AlertTransition.State: Int]
        public var seriesEvicted: Int
        /// The newest event time of an accepted reading, if any.
        public var newest: EventTime?

        package init(
            totals: IngestCounters,
            series: Int,
            firingAlerts: Int,
            alertQueue: Int,
            transitions: [AlertTransition.State: Int],
            seriesEvicted: Int,
            newest: EventTime? = nil
        ) {
            self.totals = totals
            self.series = series
            self.firingAlerts = firingAlerts
            self.alertQueue = alertQueue
            self.transitions = transitions
            self.seriesEvicted = seriesEvicted
            self.newest = newest
        }
    }
}
