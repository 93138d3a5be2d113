/// What each kind of sensor measures: its pillar, canonical unit, physical range (a value
/// outside is invalid: counted, never averaged) and whether it is a gauge or a counter.
public struct KindInfo: Sendable, Equatable {
    public var kind: String
    public var pillar: Pillar
    public var unit: String
    public var range: ClosedRange<Double>
    public var shape: MeasureShape

    public init(
        _ kind: String, _ pillar: Pillar, _ unit: String, _ range: ClosedRange<Double>, _ shape: MeasureShape = .gauge
    ) {
        self.kind = kind
        self.pillar = pillar
        self.unit = unit
        self.range = range
        self.shape = shape
    }
}

/// The kinds of the three pillars, extendable (and overridable) from configuration.
public struct SensorCatalog: Sendable, Equatable {
    public private(set) var kinds: [String: KindInfo]

    public init(_ kinds: [KindInfo]) {
        self.kinds = Dictionary(kinds.map { ($0.kind, $0) }, uniquingKeysWith: { _, last in last })
    }

    public subscript(kind: String) -> KindInfo? { kinds[kind] }

    /// Adds a kind or replaces the one of the same name.
    public mutating func define(_ info: KindInfo) { kinds[info.kind] = info }

    /// The reading in the kind's canonical unit, or why it cannot be: an unknown or
    /// unconvertible unit. Kinds not in the catalog pass unchanged.
    public func normalise(_ reading: Reading, kind: String) throws(PayloadError) -> Reading {
        try Self.normalise(reading, info: kinds[kind])
    }

    /// As `normalise(_:kind:)` with the kind already looked up (the ingest path keeps it per series).
    public static func normalise(_ reading: Reading, info: KindInfo?) throws(PayloadError) -> Reading {
        guard let info, let sent = reading.unit, sent != info.unit else { return reading }
        let kind = info.kind
        let unit = Units.canonical(sent)
        if unit == info.unit {
            guard sent != unit else { return reading }
            var respelled = reading
            respelled.unit = unit
            return respelled
        }
        guard let converted = Units.convert(reading.value, from: unit, to: info.unit) else {
            let others = Units.convertible(to: info.unit)
            let accepted = ([info.unit] + others).joined(separator: ", ")
            throw PayloadError(.badUnit, "unit '\(sent)' for \(kind): expected \(accepted)")
        }
        var normalised = reading
        normalised.value = converted
        normalised.unit = info.unit
        return normalised
    }

    public static let standard = SensorCatalog([
        // Energy
        KindInfo("active_power", .energy, "kW", -100_000...100_000),
        KindInfo("energy", .energy, "kWh", 0...1e12, .counter),
        KindInfo("pv_power", .energy, "kW", 0...100_000),
        KindInfo("pv_energy", .energy, "kWh", 0...1e12, .counter),
        KindInfo("battery_soc", .energy, "%", 0...100),
        KindInfo("power_factor", .energy, "", -1...1),
        // Emissions: ambient air (QCVN 05:2023), stacks (QCVN 19), noise (QCVN 26), wastewater (QCVN 40)
        KindInfo("pm25", .emissions, "ug/m3", 0...2_000),
        KindInfo("pm10", .emissions, "ug/m3", 0...5_000),
        KindInfo("tsp", .emissions, "ug/m3", 0...10_000),
        KindInfo("so2", .emissions, "ug/m3", 0...20_000),
        KindInfo("no2", .emissions, "ug/m3", 0...20_000),
        KindInfo("co", .emissions, "ug/m3", 0...500_000),
        KindInfo("o3", .emissions, "ug/m3", 0...2_000),
        KindInfo("co2", .emissions, "ppm", 0...50_000),
        KindInfo("noise", .emissions, "dBA", 20...140),
        KindInfo("stack_dust", .emissions, "mg/Nm3", 0...20_000),
        KindInfo("stack_so2", .emissions, "mg/Nm3", 0...20_000),
        KindInfo("stack_nox", .emissions, "mg/Nm3", 0...20_000),
        KindInfo("stack_co", .emissions, "mg/Nm3", 0...50_000),
        KindInfo("ww_ph", .emissions, "pH", 0...14),
        KindInfo("ww_cod", .emissions, "mg/L", 0...20_000),
        KindInfo("ww_bod5", .emissions, "mg/L", 0...20_000),
        KindInfo("ww_tss", .emissions, "mg/L", 0...20_000),
        KindInfo("ww_nh4", .emissions, "mg/L", 0...2_000),
        KindInfo("ww_flow", .emissions, "m3/h", 0...100_000),
        KindInfo("ww_temperature", .emissions, "degC", 0...100),
        // Green area
        KindInfo("soil_moisture", .green, "%", 0...100),
        KindInfo("irrigation_flow", .green, "m3/h", 0...10_000),
        KindInfo("irrigation_volume", .green, "m3", 0...1e12, .counter),
        KindInfo("green_area", .green, "m2", 0...1e9),
        KindInfo("air_temperature", .green, "degC", -40...70),
        KindInfo("humidity", .green, "%", 0...100),
        KindInfo("canopy_temperature", .green, "degC", -40...80),
        KindInfo("ndvi", .green, "", -1...1),
    ])
}
