import TelemetryCore
import UplinkWire

/// What a pipeline is built with: its quotas and time admission (`Limits`) and everything the
/// configuration decides (`Settings`).
extension IngestPipeline {
    /// What one sender may cost: no message, park or clock can take what the others need.
    public struct Limits: Sendable, Equatable {
        public var maxSeries: Int
        /// One park's share of `maxSeries`, so a flood from one park cannot lock out the others.
        public var maxSeriesPerPark: Int
        /// New series one message may open (a JSON object of thousands of numeric keys).
        public var maxNewSeriesPerMessage: Int
        /// Kinds outside the sensor catalog open no series unless allowed.
        public var allowUnknownKinds: Bool
        /// A series silent this long (on the arrival clock) is evicted with its state.
        public var seriesTTLMilliseconds: Int64
        /// Readings whose time is too far ahead of or behind their arrival are refused.
        public var time: TimeAdmission
        /// Topics longer or deeper than these are refused before any lookup (hostile input).
        public var maxTopicBytes: Int
        public var maxTopicLevels: Int
        public init(
            maxSeries: Int = 100_000, maxSeriesPerPark: Int = 20_000, maxNewSeriesPerMessage: Int = 64,
            allowUnknownKinds: Bool = false, seriesTTLMilliseconds: Int64 = 7 * 86_400_000,
            time: TimeAdmission = TimeAdmission(), maxTopicBytes: Int = 512, maxTopicLevels: Int = 16
        ) {
            self.maxSeries = maxSeries
            self.maxSeriesPerPark = maxSeriesPerPark
            self.maxNewSeriesPerMessage = maxNewSeriesPerMessage
            self.allowUnknownKinds = allowUnknownKinds
            self.seriesTTLMilliseconds = seriesTTLMilliseconds
            self.time = time
            self.maxTopicBytes = maxTopicBytes
            self.maxTopicLevels = maxTopicLevels
        }
    }

    public struct Settings: Sendable {
        public var routes: [TopicRoute]
        public var catalog: SensorCatalog
        public var windows: [WindowSpec]
        public var allowedLatenessMilliseconds: Int64
        public var limits: Limits
        public var validity: ValidityRule
        /// Compliance periods' lateness, revisions and time weighting.
        public var compliance = CompliancePolicy()
        /// Automatic monitoring stations whose readings make the regulator feed's cycles.
        public var feedStations: [FeedStation] = []
        public var feedCycleMilliseconds: Int64 = 300_000
        /// A feed cycle closes this long after its end (a datalogger's delay).
        public var feedGraceMilliseconds: Int64 = 60_000
        public var rules: [Rule] = []
        public var expectedSensors: [SeriesID] = []
        /// Park facts summaries need (area, green-area target).
        public var parks: [String: ParkSite] = [:]
        /// The park's local time, for EVN tariff periods.
        public var utcOffsetMinutes = LocalCalendar.defaultOffsetMinutes
        /// How many summary schedules keep their own interval figures (1 m, 1 h, 1 d: 3).
        public var schedules = 1
        /// Past this many transitions waiting for the writer, parkd warns that it is behind.
        /// Nothing is dropped: a transition is a change of state of one (rule, series), so one
        /// tick makes at most rules × series of them, and the writer takes them every second.
        public var alertQueueWarning = 10_000
        /// Bit i: window i keeps quantile sketches (a rule or the configuration reads its p50/p95/p99).
        public var quantileWindows: UInt64 = .max
        /// Bit i: window i keeps full detail (min, max, std, ends, increase); else it is lean.
        public var detailWindows: UInt64 = .max
        /// Bit i: window i keeps energy sums for decibel series (a rule reads its `leq`).
        public var energyWindows: UInt64 = .max
        /// Energy meters' roles from the inventory (others by kind).
        public var meterRoles: [SeriesID: MeterRole] = [:]
        /// Dated time-of-use schedules (none: EVN 2014).
        public var tariffs: [TariffSchedule] = []
        /// Per-series rollups for the history store at this resolution; 0: no history.
        public var historyResolutionMilliseconds: Int64 = 0
        /// Sparkplug B host behaviour: reorder timeout, rebirth requests and their interval.
        package var sparkplug = SparkplugHost.Settings()

        public init(
            routes: [TopicRoute], catalog: SensorCatalog = .standard, windows: [WindowSpec] = WindowSpec.defaults(),
            allowedLatenessMilliseconds: Int64 = 300_000, limits: Limits = Limits(),
            validity: ValidityRule = ValidityRule(),
            rules: [Rule] = [], expectedSensors: [SeriesID] = [], parks: [String: ParkSite] = [:],
            utcOffsetMinutes: Int = LocalCalendar.defaultOffsetMinutes,
            schedules: Int = 1, quantileWindows: UInt64 = .max, detailWindows: UInt64 = .max,
            energyWindows: UInt64 = .max, meterRoles: [SeriesID: MeterRole] = [:], tariffs: [TariffSchedule] = [],
            historyResolutionMilliseconds: Int64 = 0
        ) {
            self.historyResolutionMilliseconds = historyResolutionMilliseconds
            self.meterRoles = meterRoles
            self.tariffs = tariffs
            self.energyWindows = energyWindows
            self.detailWindows = detailWindows
            self.schedules = schedules
            self.quantileWindows = quantileWindows
            self.parks = parks
            self.utcOffsetMinutes = utcOffsetMinutes
            self.validity = validity
            self.rules = rules
            self.expectedSensors = expectedSensors
            self.routes = routes
            self.catalog = catalog
            self.windows = windows
            self.allowedLatenessMilliseconds = allowedLatenessMilliseconds
            self.limits = limits
        }
    }
}
