/// How long each table keeps its rows (by the row's own time).
public struct HistoryRetention: Sendable, Equatable {
    public var rollupsMilliseconds: Int64 = 400 * 86_400_000
    public var complianceMilliseconds: Int64 = 3_650 * 86_400_000
    public var alertsMilliseconds: Int64 = 3_650 * 86_400_000
    public var summariesMilliseconds: Int64 = 400 * 86_400_000
    public init() {}
}
