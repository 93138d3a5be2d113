import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// One message the simulator sends: when it arrives at the broker, where, and what.
public struct SimulatedMessage: Sendable, Equatable {
    public var arrival: EventTime
    public var topic: String
    public var payload: [UInt8]
}

/// Runs a scenario: every sensor reports on its interval (with a random phase), values follow
/// their kind's profile plus a random walk, and the scenario's faults are injected and listed.
/// Messages come out in arrival order. Deterministic: the same scenario and seed give the
/// same messages and the same fault list.
public struct Simulation: Sendable {
    struct Sensor: Sendable {
        let id: SeriesID
        let topic: String
        let format: PayloadFormat
        let unit: String
        let model: KindModel
        let level: Double
        let intervalMs: Int64
        let utcOffsetMinutes: Int
        let isCounter: Bool
        var random: SeededRandom
        var next: Int64
        var seq: Int64 = 0
        var walk = 0.0
        var total = 0.0
        var soil = 30.0
        var lastTime: Int64?
        var stuckUntil: Int64 = .min
        var stuckValue = 0.0
        var calibratingUntil: Int64 = .min
        var silence: Range<Int64>?
        var driftPerDay = 0.0
        var skewMs: Int64 = 0
    }

    public let scenario: Scenario
    public let start: EventTime
    public let end: EventTime?
    private var sensors: [Sensor] = []
    private var due = MinHeap<Key>()
    private var delayed = MinHeap<Pending>()
    private var order: Int64 = 0
    private var faultRandom: SeededRandom
    /// Faults injected since the last `takeFaults()`.
    private var faults: [InjectedFault] = []
    private let exceedances: [(park: String, kind: String, window: Range<Int64>, level: Double)]

    struct Key: Comparable, Sendable {
        var time: Int64
        var sensor: Int
        static func < (a: Key, b: Key) -> Bool { (a.time, a.sensor) < (b.time, b.sensor) }
    }

    struct Pending: Comparable, Sendable {
        var arrival: Int64
        var order: Int64
        var message: SimulatedMessage
        static func < (a: Pending, b: Pending) -> Bool { (a.arrival, a.order) < (b.arrival, b.order) }
        static func == (a: Pending, b: Pending) -> Bool { a.arrival == b.arrival && a.order == b.order }
    }

    /// `start` defaults to the scenario's; `end` nil runs for ever (parksim run).
    public init(scenario: Scenario, start: EventTime? = nil, runForever: Bool = false) {
        self.scenario = scenario
        let begin = start ?? scenario.startTime
        self.start = begin
        end = runForever ? nil : EventTime(milliseconds: begin.milliseconds + scenario.durationMilliseconds)
        faultRandom = SeededRandom(seed: scenario.seed ^ 0xFA17)
        exceedances = scenario.faults.exceedance.map { e in
            let from = RFC3339.parse(Array(e.start.utf8))!.milliseconds
            return (e.park, e.kind, from..<(from + Int64(TimeText.seconds(e.duration)! * 1000)), e.level)
        }
        var index = 0
        for park in scenario.parks {
            let offset = park.utcOffset.flatMap(TimeText.utcOffsetMinutes) ?? 420
            for group in park.sensors {
                let info = SensorCatalog.standard[group.kind]!
                let format = group.format.flatMap(PayloadFormat.init(rawValue:)) ?? .json
                let intervalMs = Int64(TimeText.seconds(group.interval)! * 1000)
                for i in 0..<group.count {
                    let zone = park.zones[i % park.zones.count]
                    let name = "\(Self.prefix(group.kind))-\(i + 1)"
                    let id = SeriesID(park: park.id, zone: zone, pillar: info.pillar, kind: group.kind, sensor: name)
                    var random = SeededRandom(seed: scenario.seed &* 0x9E37_79B9 &+ UInt64(index) &* 0x85EB_CA6B)
                    let phase = Int64(random.unit() * Double(intervalMs))
                    sensors.append(
                        Sensor(
                            id: id, topic: Self.topic(id, format: format), format: format, unit: info.unit,
                            model: KindModel.model(for: group.kind), level: group.level ?? 1, intervalMs: intervalMs,
                            utcOffsetMinutes: offset, isCounter: info.shape == .counter, random: random,
                            next: begin.milliseconds + phase))
                    due.push(Key(time: begin.milliseconds + phase, sensor: index))
                    index += 1
                }
            }
        }
        applyPerSensorFaults()
    }

    public var sensorCount: Int { sensors.count }

    /// The faults injected since the last call, oldest first.
    public mutating func takeFaults() -> [InjectedFault] {
        defer { faults.removeAll() }
        return faults
    }

    private mutating func applyPerSensorFaults() {
        let f = scenario.faults
        let end = self.end?.milliseconds ?? Int64.max
        if let silence = f.silence {
            let after = Int64((silence.after.flatMap(TimeText.seconds) ?? 3600) * 1000)
            let length = Int64((silence.duration.flatMap(TimeText.seconds) ?? 7200) * 1000)
            for index in 0..<min(silence.sensors, sensors.count) {
                let from = start.milliseconds + after
                sensors[index].silence = from..<(from + length)
                record("silence", index, from, from + length, detail: "no readings for \(length / 1000)s")
            }
        }
        if let drift = f.drift {
            let count = min(drift.sensors, sensors.count)
            for index in (sensors.count - count)..<sensors.count {
                sensors[index].driftPerDay = drift.perDay ?? 1
                record(
                    "drift", index, start.milliseconds, end,
                    detail: "drifts \(drift.perDay ?? 1) \(sensors[index].unit) a day")
            }
        }
        for e in exceedances {
            for index in sensors.indices where sensors[index].id.park == e.park && sensors[index].id.kind == e.kind {
                record(
                    "exceedance", index, e.window.lowerBound, e.window.upperBound,
                    detail: "held near \(Self.text(e.level)) \(sensors[index].unit)")
            }
        }
        if let skew = f.clockSkew {
            let offset = Int64((skew.offset.flatMap(TimeText.seconds) ?? 120) * 1000)
            for index in stride(from: 1, to: sensors.count, by: 2).prefix(skew.sensors) {
                sensors[index].skewMs = offset
                record("clock_skew", index, start.milliseconds, end, detail: "clock off by \(offset / 1000)s")
            }
        }
    }

    private mutating func record(
        _ fault: String, _ sensor: Int, _ from: Int64, _ to: Int64, seq: Int64? = nil, detail: String
    ) {
        faults.append(
            InjectedFault(
                fault: fault, series: sensors[sensor].id, from: EventTime(milliseconds: from),
                to: EventTime(milliseconds: to), seq: seq, detail: detail))
    }

    /// The next message in arrival order, or nil once the scenario's span is over.
    public mutating func next() -> SimulatedMessage? {
        while true {
            let nextDue = due.peek()?.time ?? .max
            if let pending = delayed.peek(), pending.arrival <= nextDue {
                return delayed.pop()!.message
            }
            guard let key = due.pop() else { return nil }
            if let end, key.time >= end.milliseconds {
                // Still deliver what was delayed past the end; then stop.
                due.push(key)
                guard let pending = delayed.pop() else { return nil }
                return pending.message
            }
            sensors[key.sensor].next = key.time + sensors[key.sensor].intervalMs
            due.push(Key(time: sensors[key.sensor].next, sensor: key.sensor))
            if let message = emit(key.sensor, at: key.time) { return message }
        }
    }

    private mutating func chance(_ rate: Double?) -> Bool {
        guard let rate, rate > 0 else { return false }
        return faultRandom.unit() <= rate
    }

    private mutating func emit(_ index: Int, at time: Int64) -> SimulatedMessage? {
        let f = scenario.faults
        if let silence = sensors[index].silence, silence.contains(time) { return nil }
        var s = sensors[index]
        defer { sensors[index] = s }
        s.seq += 1
        let clock = LocalClock(EventTime(milliseconds: time), utcOffsetMinutes: s.utcOffsetMinutes)
        var value = s.model.profile(clock, s.level)
        // A mean-reverting random walk around the profile.
        s.walk = s.walk * 0.9 + s.random.gaussian() * s.model.noise
        if value != 0 || s.model.noise > 0 { value += s.walk }
        if s.id.kind == "soil_moisture" {
            s.soil -= 0.15 * Double(s.intervalMs) / 3_600_000
            if s.soil < 22 || ((6..<6.5).contains(clock.hour) && s.soil < 34) { s.soil = 38 }
            value = s.soil + s.walk
        }
        if s.driftPerDay != 0 && !s.isCounter {
            value += s.driftPerDay * Double(time - start.milliseconds) / 86_400_000
        }
        for e in exceedances where e.park == s.id.park && e.kind == s.id.kind && e.window.contains(time) {
            value = e.level * (1 + 0.03 * s.random.gaussian())
        }
        if let info = SensorCatalog.standard[s.id.kind] {
            value = min(max(value, max(info.range.lowerBound, 0)), info.range.upperBound)
        }
        if s.isCounter {
            if let last = s.lastTime { s.total += max(0, value) * Double(time - last) / 3_600_000 }
            s.lastTime = time
            if chance(f.counterReset?.rate) {
                record("counter_reset", index, time, time, seq: s.seq, detail: "meter reset from \(Int(s.total)) to 0")
                s.total = 0
            }
            value = s.total
        }
        if time < s.stuckUntil {
            value = s.stuckValue
        } else if let stuck = f.stuck, chance(stuck.rate) {
            let length = Int64(TimeText.seconds(stuck.duration)! * 1000)
            s.stuckUntil = time + length
            s.stuckValue = value
            record("stuck", index, time, time + length, seq: s.seq, detail: "value frozen at \(Self.text(value))")
        }
        // Meters do not spike: a cumulative counter's faults are resets and stuck values.
        if !s.isCounter, let spike = f.spike, chance(spike.rate) {
            value *= spike.factor
            record("spike", index, time, time, seq: s.seq, detail: "value × \(spike.factor)")
        }
        var status = "ok"
        if time < s.calibratingUntil {
            status = "calibrating"
        } else if let calibration = f.calibration, chance(calibration.rate) {
            let length = Int64(TimeText.seconds(calibration.duration)! * 1000)
            s.calibratingUntil = time + length
            status = "calibrating"
            record("calibration", index, time, time + length, seq: s.seq, detail: "status calibrating")
        }
        if chance(f.dropout?.rate) {
            record("dropout", index, time, time, seq: s.seq, detail: "message lost")
            return nil
        }
        let eventTime = time + s.skewMs
        var payload = Self.encode(s, value: value, time: eventTime, status: status)
        if chance(f.malformed?.rate) {
            payload = Array(payload.prefix(max(1, payload.count / 2)))
            record("malformed", index, time, time, seq: s.seq, detail: "payload cut in half")
        }
        let message = SimulatedMessage(arrival: EventTime(milliseconds: time), topic: s.topic, payload: payload)
        if let delay = f.outOfOrder, chance(delay.rate) {
            let late = Int64(TimeText.seconds(delay.delay)! * 1000)
            var held = message
            held.arrival = EventTime(milliseconds: time + late)
            order += 1
            delayed.push(Pending(arrival: time + late, order: order, message: held))
            record("out_of_order", index, time, time + late, seq: s.seq, detail: "arrives \(late / 1000)s late")
            return nil
        }
        if chance(f.duplicate?.rate) {
            var copy = message
            copy.arrival = EventTime(milliseconds: time + 1000)
            order += 1
            delayed.push(Pending(arrival: time + 1000, order: order, message: copy))
            record("duplicate", index, time, time + 1000, seq: s.seq, detail: "sent twice")
        }
        return message
    }

    static func text(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int64(rounded)) : "\(rounded)"
    }

    static func prefix(_ kind: String) -> String {
        let known: [String: String] = [
            "active_power": "meter", "energy": "meter", "pv_power": "pv", "pv_energy": "pv", "pm25": "aq", "pm10": "aq",
            "noise": "noise", "soil_moisture": "soil", "ww_ph": "ww", "ww_cod": "ww", "ww_tss": "ww",
        ]
        return known[kind] ?? String(kind.prefix(4))
    }

    /// Topics by format, so one parkd configuration routes each to its decoder.
    public static func topic(_ id: SeriesID, format: PayloadFormat) -> String {
        let path = "\(id.park)/\(id.zone)/\(id.pillar.rawValue)/\(id.kind)/\(id.sensor)"
        switch format {
        case .json: return "parks/" + path
        case .number: return "raw/" + path
        case .senml: return "senml/" + path
        case .line: return "influx/" + path
        // One LoRaWAN application per park and pillar, as network servers are usually set up.
        case .chirpstack: return "application/\(id.park)-\(id.pillar.rawValue)/device/\(id.zone).\(id.sensor)/event/up"
        case .tts: return "v3/\(id.park)-\(id.pillar.rawValue)@parks/devices/\(id.zone).\(id.sensor)/up"
        }
    }

    static func encode(_ s: Sensor, value: Double, time: Int64, status: String) -> [UInt8] {
        let v = text(value)
        let t = EventTime(milliseconds: time)
        let text: String
        switch s.format {
        case .json:
            text = "{\"value\":\(v),\"ts\":\(time),\"unit\":\"\(s.unit)\",\"status\":\"\(status)\",\"seq\":\(s.seq)}"
        case .number: text = v
        case .senml:
            text =
                "[{\"n\":\"\(s.id.kind)\",\"u\":\"\(s.unit)\",\"v\":\(v),\"t\":\(String(format3: t)),\"seq\":\(s.seq)}]"
        case .line: text = "\(s.id.kind),sensor=\(s.id.sensor),seq=\(s.seq) \(s.id.kind)=\(v) \(time * 1_000_000)"
        case .chirpstack:
            text =
                "{\"time\":\"\(RFC3339.format(t, offsetMinutes: s.utcOffsetMinutes))\",\"fCnt\":\(s.seq),"
                + "\"deviceInfo\":{\"deviceName\":\"\(s.id.sensor)\"},\"object\":{\"\(s.id.kind)\":\(v)}}"
        case .tts:
            text =
                "{\"end_device_ids\":{\"device_id\":\"\(s.id.sensor)\"},\"uplink_message\":{\"f_cnt\":\(s.seq),"
                + "\"decoded_payload\":{\"\(s.id.kind)\":\(v)},\"received_at\":\"\(RFC3339.format(t, offsetMinutes: 0))\"}}"
        }
        return Array(text.utf8)
    }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable & Sendable>: Sendable {
    private var items: [Element] = []

    var count: Int { items.count }
    func peek() -> Element? { items.first }

    mutating func push(_ item: Element) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
