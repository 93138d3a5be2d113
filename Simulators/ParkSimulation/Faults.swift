import TelemetryCore

/// The faults a scenario injects, each by rate (per message) or by schedule.
public struct Faults: Sendable, Decodable {
    public struct Rate: Sendable, Decodable { public var rate: Double }
    public struct Episode: Sendable, Decodable {
        public var rate: Double
        public var duration: String
    }
    public struct Spike: Sendable, Decodable {
        public var rate: Double
        public var factor: Double = 4
    }
    public struct Delay: Sendable, Decodable {
        public var rate: Double
        public var delay: String = "30s"
    }
    public struct PerSensor: Sendable, Decodable {
        /// How many sensors (the first N in the scenario's order, so tests can find them).
        public var sensors: Int
        /// Silence: starts this long after the start and lasts `duration`.
        public var after: String?
        public var duration: String?
        /// Drift: units per day. Clock skew: offset of the sensor's clock.
        public var perDay: Double?
        public var offset: String?

        enum CodingKeys: String, CodingKey {
            case sensors, after, duration, offset
            case perDay = "per_day"
        }
    }
    public struct Exceedance: Sendable, Decodable {
        public var park: String
        public var kind: String
        public var start: String
        public var duration: String
        /// The level held during the episode, in the kind's unit.
        public var level: Double
    }

    public var dropout: Rate?
    public var silence: PerSensor?
    public var stuck: Episode?
    public var drift: PerSensor?
    public var spike: Spike?
    public var calibration: Episode?
    public var counterReset: Rate?
    public var duplicate: Rate?
    public var outOfOrder: Delay?
    public var clockSkew: PerSensor?
    public var malformed: Rate?
    public var exceedance: [Exceedance] = []

    enum CodingKeys: String, CodingKey {
        case dropout, silence, stuck, drift, spike, calibration, duplicate, malformed, exceedance
        case counterReset = "counter_reset"
        case outOfOrder = "out_of_order"
        case clockSkew = "clock_skew"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dropout = try c.decodeIfPresent(Rate.self, forKey: .dropout)
        silence = try c.decodeIfPresent(PerSensor.self, forKey: .silence)
        stuck = try c.decodeIfPresent(Episode.self, forKey: .stuck)
        drift = try c.decodeIfPresent(PerSensor.self, forKey: .drift)
        spike = try c.decodeIfPresent(Spike.self, forKey: .spike)
        calibration = try c.decodeIfPresent(Episode.self, forKey: .calibration)
        counterReset = try c.decodeIfPresent(Rate.self, forKey: .counterReset)
        duplicate = try c.decodeIfPresent(Rate.self, forKey: .duplicate)
        outOfOrder = try c.decodeIfPresent(Delay.self, forKey: .outOfOrder)
        clockSkew = try c.decodeIfPresent(PerSensor.self, forKey: .clockSkew)
        malformed = try c.decodeIfPresent(Rate.self, forKey: .malformed)
        exceedance = try c.decodeIfPresent([Exceedance].self, forKey: .exceedance) ?? []
    }

    func validate(file: String) throws {
        let rates: [(String, Double?)] = [
            ("dropout", dropout?.rate), ("stuck", stuck?.rate), ("spike", spike?.rate),
            ("calibration", calibration?.rate), ("counter_reset", counterReset?.rate), ("duplicate", duplicate?.rate),
            ("out_of_order", outOfOrder?.rate), ("malformed", malformed?.rate),
        ]
        for (name, rate) in rates {
            if let rate, !(0...1).contains(rate) { throw ScenarioError("\(file): faults.\(name).rate: must be 0...1") }
        }
        for (name, text) in [
            ("stuck.duration", stuck?.duration), ("calibration.duration", calibration?.duration),
            ("out_of_order.delay", outOfOrder?.delay), ("silence.after", silence?.after),
            ("silence.duration", silence?.duration), ("clock_skew.offset", clockSkew?.offset),
        ] {
            if let text, TimeText.seconds(text) == nil {
                throw ScenarioError("\(file): faults.\(name): '\(text)' is not a duration")
            }
        }
        for (index, e) in exceedance.enumerated() {
            guard RFC3339.parse(Array(e.start.utf8)) != nil, TimeText.seconds(e.duration) != nil else {
                throw ScenarioError(
                    "\(file): faults.exceedance[\(index)]: start must be RFC 3339 and duration a duration")
            }
        }
    }
}

/// One injected fault, for the ground-truth file that tests and operators check parkd against.
public struct InjectedFault: Sendable, Equatable {
    public var fault: String
    public var series: SeriesID
    public var from: EventTime
    public var to: EventTime
    public var seq: Int64?
    public var detail: String

    public var line: String {
        var text = "{\"fault\":\"\(fault)\",\"park\":\"\(series.park)\",\"zone\":\"\(series.zone)\""
        text += ",\"pillar\":\"\(series.pillar.rawValue)\",\"kind\":\"\(series.kind)\",\"sensor\":\"\(series.sensor)\""
        text +=
            ",\"from\":\"\(RFC3339.format(from, offsetMinutes: 420))\",\"to\":\"\(RFC3339.format(to, offsetMinutes: 420))\""
        if let seq { text += ",\"seq\":\(seq)" }
        text += ",\"detail\":"
        JSONText.appendQuoted(detail, to: &text)
        return text + "}"
    }
}
