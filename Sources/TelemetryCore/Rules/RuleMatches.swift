/// Which rules of a list take a series, remembered per park, zone, pillar and kind when no
/// rule names sensors: every new series asks (100 000 of them at a large gateway's start, a
/// restart or a backfill), and series of one kind in one zone all get the same answer. A
/// list whose rules name sensors is matched afresh for each series.
public struct RuleMatches: Sendable {
    public let rules: [Rule]
    /// No rule's matcher constrains the sensor: the answer does not depend on it.
    private let sensorBlind: Bool
    private var memo: [Key: [Int]] = [:]
    /// Answers kept at most: a flood of new parks or kinds cannot grow the memo without end
    /// (it starts over when full).
    static let capacity = 65_536

    private struct Key: Hashable {
        var park: String
        var zone: String
        var pillar: Pillar
        var kind: String
    }

    public init(_ rules: [Rule]) {
        self.rules = rules
        sensorBlind = rules.allSatisfy { $0.matcher.sensor == nil || $0.matcher.sensor == "*" }
    }

    /// The indices in `rules` of the rules whose matchers take `id`, in order.
    public mutating func indices(matching id: SeriesID) -> [Int] {
        guard sensorBlind else { return Rule.indices(in: rules, matching: id) }
        let key = Key(park: id.park, zone: id.zone, pillar: id.pillar, kind: id.kind)
        if let known = memo[key] { return known }
        let found = Rule.indices(in: rules, matching: id)
        if memo.count >= Self.capacity { memo.removeAll(keepingCapacity: true) }
        memo[key] = found
        return found
    }

    /// Answers held (for tests).
    var remembered: Int { memo.count }
}
