import ParkIngest
import TelemetryCore
import UplinkWire

extension DaemonConfiguration {
    /// Places rules where their regulation applies, once at load, so that check-config, alerts
    /// and compliance records agree:
    /// - `applies_at: outlet` (QCVN 40): one rule of the same id per park with a declared
    ///   wastewater outlet, matching that outlet only; `kq_kf: true` limits become C × Kq × Kf.
    ///   No outlet declared: the rule judges nothing, and a warning says so.
    /// - `applies_at: ordinary` or `special` (QCVN 26): one rule per zone declared of that class
    ///   (`parks.<park>.zones`); production premises and undeclared zones are not judged.
    /// - Otherwise, `kq_kf: true` limits are scaled at declared outlets and stay unscaled
    ///   elsewhere (a pack written before `applies_at`).
    package static func scopedToSites(_ rules: [Rule], parks: [String: ParkSite]) -> (rules: [Rule], warnings: [String])
    {
        let outlets = parks.compactMap { name, site in site.wastewater.map { (name, $0) } }.sorted { $0.0 < $1.0 }
        var result: [Rule] = []
        var unplaced: [String: [String]] = [:]
        for rule in rules {
            switch rule.appliesAt {
            case nil:
                guard rule.scaledByKqKf, !outlets.isEmpty else {
                    result.append(rule)
                    continue
                }
                var general = rule
                var scaled: [Rule] = []
                for (park, outlet) in outlets where SeriesMatcher.glob(rule.matcher.park, park) {
                    general.matcher.excludedParks.append(park)
                    scaled.append(atOutlet(rule, park: park, outlet: outlet))
                }
                result.append(general)
                result += scaled
            case "outlet":
                let placed = outlets.filter { SeriesMatcher.glob(rule.matcher.park, $0.0) }.map {
                    atOutlet(rule, park: $0.0, outlet: $0.1)
                }
                if placed.isEmpty { unplaced["outlet", default: []].append(rule.id) }
                result += placed
            case let zoneClass?:
                var placed: [Rule] = []
                for (park, site) in parks.sorted(by: { $0.key < $1.key })
                where SeriesMatcher.glob(rule.matcher.park, park) {
                    for (zone, declared) in site.zoneClasses.sorted(by: { $0.key < $1.key })
                    where declared == zoneClass && SeriesMatcher.glob(rule.matcher.zone, zone) {
                        var own = rule
                        own.matcher.park = park
                        own.matcher.zone = zone
                        placed.append(own)
                    }
                }
                if placed.isEmpty { unplaced[zoneClass, default: []].append(rule.id) }
                result += placed
            }
        }
        var warnings: [String] = []
        for (scope, ids) in unplaced.sorted(by: { $0.key < $1.key }) {
            let names = Array(Set(ids)).sorted().joined(separator: ", ")
            warnings.append(
                scope == "outlet"
                    ? "rules \(names) apply at a declared wastewater outlet (QCVN 40:2011; §1.2.3 leaves discharges into a central plant to the plant's own limits), and no park declares one (parks.<park>.wastewater: {zone, sensor, kq, kf}): they judge nothing"
                    : "rules \(names) apply in zones declared \(scope) (QCVN 26:2010 §1.1 leaves production premises out), and no park declares one (parks.<park>.zones: {<zone>: \(scope)}): they judge nothing"
            )
        }
        return (result, warnings)
    }

    /// The rule at one park's outlet, its limit scaled by Kq × Kf where the regulation says so.
    private static func atOutlet(_ rule: Rule, park: String, outlet: WastewaterOutlet) -> Rule {
        var own = rule
        own.matcher.park = park
        own.matcher.zone = outlet.zone
        if let sensor = outlet.sensor { own.matcher.sensor = sensor }
        guard rule.scaledByKqKf, case .threshold(let source, let above, let limit, let clear) = rule.condition else {
            return own
        }
        let factor = outlet.kq * outlet.kf
        // The permit's figure is a decimal: 150 × 0.9 × 0.9 is 121.5, not 121.50000000000001.
        func scale(_ value: Double) -> Double { (value * factor * 1e6).rounded() / 1e6 }
        own.condition = .threshold(source: source, above: above, limit: scale(limit), clear: clear.map(scale))
        own.description =
            rule.description
            + " at \(park)'s outlet: \(RuleEngine.number(limit)) × Kq \(RuleEngine.number(outlet.kq)) × Kf \(RuleEngine.number(outlet.kf)) = \(RuleEngine.number(scale(limit)))"
        return own
    }
}
