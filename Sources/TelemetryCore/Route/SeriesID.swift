/// The three pillars of an eco-industrial park.
public enum Pillar: String, Sendable, Hashable, CaseIterable, Codable {
    case energy
    case emissions
    case green
}

/// Which sensor a reading comes from: park, zone, pillar, kind (what is measured) and sensor.
public struct SeriesID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var park: String
    public var zone: String
    public var pillar: Pillar
    public var kind: String
    public var sensor: String

    public init(park: String, zone: String, pillar: Pillar, kind: String, sensor: String) {
        self.park = park
        self.zone = zone
        self.pillar = pillar
        self.kind = kind
        self.sensor = sensor
    }

    public var description: String { "\(park)/\(zone)/\(pillar.rawValue)/\(kind)/\(sensor)" }
}

extension SeriesID: Comparable {
    /// Park, zone, pillar, kind, sensor: a fixed order for outputs, with no string built per
    /// comparison (sorting by `description` allocated twice per comparison).
    public static func < (a: SeriesID, b: SeriesID) -> Bool {
        (a.park, a.zone, a.pillar.rawValue, a.kind, a.sensor) < (b.park, b.zone, b.pillar.rawValue, b.kind, b.sensor)
    }
}
