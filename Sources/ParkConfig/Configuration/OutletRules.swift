import ParkIngest
import TelemetryCore
import UplinkWire

extension DaemonConfiguration {
    /// QCVN 40 limits marked `kq_kf: true` become, for each park with a wastewater outlet
    /// configured, a rule of the same id that matches that outlet only, with C × Kq × Kf as its
    /// limit (and its clear level scaled alike); the unscaled rule keeps matching the parks
    /// without one. Done once at load, so check-config, alerts and compliance records agree.
    package static func scaledForOutlets(_ rules: [Rule], parks: [String: ParkSite]) -> [Rule] {
        let outlets = parks.compactMap { name, site in site.wastewater.map { (name, $0) } }.sorted { $0.0 < $1.0 }
        guard !outlets.isEmpty else { return rules }
        var result: [Rule] = []
        for rule in rules {
            guard rule.scaledByKqKf, case .threshold(let source, let above, let limit, let clear) = rule.condition
            else {
                result.append(rule)
                continue
            }
            var general = rule
            var scaled: [Rule] = []
            for (park, outlet) in outlets where SeriesMatcher.glob(rule.matcher.park, park) {
                general.matcher.excludedParks.append(park)
                let factor = outlet.kq * outlet.kf
                // The permit's figure is a decimal: 150 × 0.9 × 0.9 is 121.5, not 121.50000000000001.
                func scale(_ value: Double) -> Double { (value * factor * 1e6).rounded() / 1e6 }
                var own = rule
                own.matcher.park = park
                own.matcher.zone = outlet.zone
                if let sensor = outlet.sensor { own.matcher.sensor = sensor }
                own.condition = .threshold(
                    source: source, above: above, limit: scale(limit), clear: clear.map(scale))
                own.description =
                    rule.description
                    + " at \(park)'s outlet: \(RuleEngine.number(limit)) × Kq \(RuleEngine.number(outlet.kq)) × Kf \(RuleEngine.number(outlet.kf)) = \(RuleEngine.number(scale(limit)))"
                scaled.append(own)
            }
            result.append(general)
            result += scaled
        }
        return result
    }
}
