import TelemetryCore

/// What a simulated sensor measures: where its value sits and how much it wanders.
public struct SensorProfile: Sendable, Equatable {
    public var pillar: Pillar
    public var kind: String
    public var unit: String
    public var baseline: Double
    /// Standard deviation of one random-walk step, pulled back toward the baseline.
    public var step: Double
    public var range: ClosedRange<Double>

    public init(pillar: Pillar, kind: String, unit: String, baseline: Double, step: Double, range: ClosedRange<Double>)
    {
        self.pillar = pillar
        self.kind = kind
        self.unit = unit
        self.baseline = baseline
        self.step = step
        self.range = range
    }

    /// A small mix across the three pillars, with levels typical of a Binh Duong park
    /// (dry season): PM2.5 around 35 µg/m³, daytime noise near 62 dBA.
    public static let standardMix: [SensorProfile] = [
        .init(pillar: .energy, kind: "active_power", unit: "kW", baseline: 850, step: 15, range: 0...5000),
        .init(pillar: .energy, kind: "pv_power", unit: "kW", baseline: 320, step: 12, range: 0...2000),
        .init(pillar: .emissions, kind: "pm25", unit: "ug/m3", baseline: 35, step: 1.5, range: 0...1000),
        .init(pillar: .emissions, kind: "noise", unit: "dBA", baseline: 62, step: 0.8, range: 20...140),
        .init(pillar: .emissions, kind: "no2", unit: "ug/m3", baseline: 40, step: 2, range: 0...2000),
        .init(pillar: .green, kind: "soil_moisture", unit: "%", baseline: 32, step: 0.3, range: 0...100),
        .init(pillar: .green, kind: "air_temperature", unit: "degC", baseline: 30, step: 0.2, range: -10...60),
    ]
}
