extension RuleEngine {
    /// A pending or firing (rule, series) pair, as saved across a restart.
    public struct ActiveAlert: Sendable, Equatable {
        public var rule: String
        public var series: SeriesID
        public var phase: AlertTracker.Phase
        public init(rule: String, series: SeriesID, phase: AlertTracker.Phase) {
            self.rule = rule
            self.series = series
            self.phase = phase
        }
    }
}
