/// Unit spellings and the conversions that are exact: mass concentration, power, energy,
/// temperature, area, flow.
public enum Units {
    /// The canonical spelling of a unit, so that `µg/m³`, `ug/m3` and `μg/m3` compare equal.
    public static func canonical(_ unit: String) -> String {
        let trimmed = unit.trimmingSpaces()
        if let alias = aliases[trimmed.lowercased()] { return alias }
        return trimmed
    }

    private static let aliases: [String: String] = [
        "µg/m³": "ug/m3", "μg/m³": "ug/m3", "µg/m3": "ug/m3", "μg/m3": "ug/m3", "ug/m3": "ug/m3", "ug/m³": "ug/m3",
        "mg/m³": "mg/m3", "mg/m3": "mg/m3",
        "mg/nm³": "mg/Nm3", "mg/nm3": "mg/Nm3",
        "mg/l": "mg/L",
        "w": "W", "kw": "kW", "mw": "MW",
        "wh": "Wh", "kwh": "kWh", "mwh": "MWh",
        "%": "%", "percent": "%", "pct": "%",
        "db": "dBA", "dba": "dBA", "db(a)": "dBA",
        "°c": "degC", "degc": "degC", "c": "degC", "celsius": "degC",
        "°f": "degF", "degf": "degF", "f": "degF",
        "m²": "m2", "m2": "m2", "ha": "ha",
        "m³/h": "m3/h", "m3/h": "m3/h", "l/s": "L/s", "l/min": "L/min",
        "m³": "m3", "m3": "m3",
        "ppm": "ppm", "ph": "pH", "": "",
        // SenML's registered units (RFC 8428 §12.1) and secondary units (RFC 8798) where a
        // catalog kind measures them: `Cel`, `K`, `%RH`, `m3/s`, `l/s`, `l`, `/` (a ratio).
        "cel": "degC", "k": "K", "%rh": "%", "m3/s": "m3/s", "l": "L", "/": "", "lx": "lx",
    ]

    /// `value` in `from`, converted to `to` (both canonical); nil when no conversion is known.
    public static func convert(_ value: Double, from: String, to: String) -> Double? {
        if from == to { return value }
        if from == "degF" && to == "degC" { return (value - 32) * 5 / 9 }
        if from == "K" && to == "degC" { return value - 273.15 }
        guard let factor = factors[from + ">" + to] else { return nil }
        return value * factor
    }

    private static let factors: [String: Double] = [
        "mg/m3>ug/m3": 1000, "ug/m3>mg/m3": 0.001,
        "W>kW": 0.001, "MW>kW": 1000, "kW>W": 1000,
        "Wh>kWh": 0.001, "MWh>kWh": 1000, "kWh>Wh": 1000,
        "ha>m2": 10_000, "m2>ha": 0.0001,
        "L/s>m3/h": 3.6, "L/min>m3/h": 0.06, "m3/s>m3/h": 3600, "L>m3": 0.001,
    ]

    /// Units `to` can be converted from, for error messages.
    static func convertible(to unit: String) -> [String] {
        var result = factors.keys.compactMap { key -> String? in
            let parts = key.split(separator: ">")
            return parts[1] == unit ? String(parts[0]) : nil
        }
        if unit == "degC" { result += ["degF", "K"] }
        return result.sorted()
    }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars = scalars.dropFirst() }
        while scalars.last == " " { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
