/// A span during which a regulatory rule's value was beyond its limit, for one series: the
/// start when it crosses, the end when it is back within (not when the alert resolves past
/// its hysteresis band).
public struct Exceedance: Sendable, Equatable {
    public var rule: String
    public var series: SeriesID
    public var since: EventTime
    public var end: EventTime?
    public init(rule: String, series: SeriesID, since: EventTime, end: EventTime?) {
        self.rule = rule
        self.series = series
        self.since = since
        self.end = end
    }
    public var id: String { "\(rule)/\(series)/\(since.milliseconds)" }
}
