import TelemetryCore

/// Deterministic sensor traffic: the same seed gives the same messages. Sensors take turns;
/// each message is a JSON reading on the default topic pattern with the sensor's own `seq`.
public struct TrafficGenerator: Sendable {
    public struct Sensor: Sendable {
        public let id: SeriesID
        public let topic: String
        public let profile: SensorProfile
        public var value: Double
        public var seq: Int64 = 0
    }

    public private(set) var sensors: [Sensor]
    private var random: SeededRandom
    private var cursor = 0
    /// One message in `malformedEvery` is deliberately broken (0: never), to exercise rejection.
    public var malformedEvery: Int
    private var produced = 0

    public init(parks: Int, sensorsPerPark: Int, seed: UInt64, malformedEvery: Int = 0) {
        precondition(parks > 0 && sensorsPerPark > 0, "at least one park and one sensor")
        random = SeededRandom(seed: seed)
        self.malformedEvery = malformedEvery
        var sensors: [Sensor] = []
        let mix = SensorProfile.standardMix
        for p in 0..<parks {
            let park = ["bau-bang", "vsip-1", "my-phuoc-3", "dong-an", "tan-uyen"][p % 5] + (p >= 5 ? "-\(p / 5)" : "")
            for s in 0..<sensorsPerPark {
                let profile = mix[s % mix.count]
                let zone = "zone-\(Character(Unicode.Scalar(UInt8(97 + (s / mix.count) % 4))))"
                let name = "\(profile.kind.prefix(4))-\(String(s / mix.count + 1))"
                let id = SeriesID(park: park, zone: zone, pillar: profile.pillar, kind: profile.kind, sensor: name)
                sensors.append(
                    Sensor(
                        id: id, topic: "parks/\(id.park)/\(id.zone)/\(id.pillar.rawValue)/\(id.kind)/\(id.sensor)",
                        profile: profile, value: profile.baseline))
            }
        }
        self.sensors = sensors
    }

    /// The next message, stamped with `time`.
    public mutating func next(at time: EventTime) -> (topic: String, payload: String) {
        let index = cursor
        cursor = (cursor + 1) % sensors.count
        produced += 1
        var sensor = sensors[index]
        let profile = sensor.profile
        let pull = (profile.baseline - sensor.value) * 0.05
        sensor.value = min(
            max(sensor.value + pull + random.gaussian() * profile.step, profile.range.lowerBound),
            profile.range.upperBound)
        sensor.seq += 1
        sensors[index] = sensor
        if malformedEvery > 0 && produced % malformedEvery == 0 {
            return (sensor.topic, "{\"value\": \"broken\", \"seq\": \(sensor.seq)}")
        }
        let rounded = (sensor.value * 100).rounded() / 100
        let payload =
            "{\"value\":\(rounded),\"ts\":\(time.milliseconds),\"unit\":\"\(profile.unit)\",\"status\":\"ok\",\"seq\":\(sensor.seq)}"
        return (sensor.topic, payload)
    }
}
