/// One alert line: a transition of one (rule, series) episode.
public struct AlertTransition: Sendable, Equatable {
    public enum State: String, Sendable { case firing, resolved }

    /// The episode: the same for its firing, re-notification and resolved lines.
    public var id: String
    public var state: State
    /// A repeated firing line (the rule's re-notify interval).
    public var repeated: Bool
    public var rule: String
    public var severity: Severity
    public var series: SeriesID
    public var value: Double?
    public var limit: Double?
    public var window: String?
    public var stat: String?
    public var at: EventTime
    public var since: EventTime
    public var reference: String?
    public var message: String

    public init(
        id: String, state: State, repeated: Bool, rule: String, severity: Severity, series: SeriesID, value: Double?,
        limit: Double?, window: String?, stat: String?, at: EventTime, since: EventTime, reference: String?,
        message: String
    ) {
        self.id = id
        self.state = state
        self.repeated = repeated
        self.rule = rule
        self.severity = severity
        self.series = series
        self.value = value
        self.limit = limit
        self.window = window
        self.stat = stat
        self.at = at
        self.since = since
        self.reference = reference
        self.message = message
    }
}
