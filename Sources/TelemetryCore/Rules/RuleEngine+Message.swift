/// The text of an alert transition: the rule's description, the figure against its limit,
/// and the series.
extension RuleEngine {

    static func message(
        _ rule: Rule, _ id: SeriesID, state: AlertTransition.State, value: Double?, limit: Double?, stat: String?
    )
        -> String
    {
        var text = state == .firing ? rule.description : "resolved: \(rule.description)"
        if let value {
            let v = number(value)
            let l = limit.map(number)
            let detail: String
            switch rule.condition {
            case .threshold(.reading, _, _, _): detail = "\(v) (limit \(l ?? "-"))"
            case .threshold(.window(let window, _), _, _, _):
                detail = "\(window) \(stat ?? "") \(v) (limit \(l ?? "-"))"
            case .rateOfChange(let window, _): detail = "\(v)/s over \(window) (limit \(l ?? "-")/s)"
            case .outOfRange: detail = "value \(v)"
            case .stale: detail = "silent for \(v) s (limit \(l ?? "-") s)"
            case .flatline(let window, _, _): detail = "spread \(v) over \(window) (limit \(l ?? "-"))"
            case .completeness(let window, _, _):
                detail = "\(v) of the expected readings in \(window) (limit \(l ?? "-"))"
            case .counterReset(let window): detail = "\(v) reset(s) in \(window)"
            case .calibrating: detail = "calibrating for \(v) s (limit \(l ?? "-") s)"
            }
            text += ": " + detail
        }
        return text + " at \(id)"
    }

    public static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : "\(rounded)"
    }
}
