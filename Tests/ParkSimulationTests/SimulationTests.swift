import Foundation
import TelemetryCore
import Testing

@testable import ParkSimulation

@Suite("Scenario simulation")
struct SimulationTests {
    static let scenarioDirectory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Simulators/scenarios").path
    }()

    func run(_ scenario: Scenario) -> (messages: [SimulatedMessage], faults: [InjectedFault]) {
        var simulation = Simulation(scenario: scenario)
        var messages: [SimulatedMessage] = []
        while let message = simulation.next() { messages.append(message) }
        return (messages, simulation.takeFaults())
    }

    func scenario(_ yaml: String) throws -> Scenario { try Scenario.parse(yaml, file: "test.yaml") }

    @Test("the shipped scenarios load, and the same seed gives the same feed and faults")
    func determinism() throws {
        let demo = try Scenario.load(path: Self.scenarioDirectory + "/demo.yaml")
        _ = try Scenario.load(path: Self.scenarioDirectory + "/binh-duong.yaml")
        let a = run(demo)
        let b = run(demo)
        #expect(a.messages.count > 1000)
        #expect(a.messages == b.messages)
        #expect(a.faults == b.faults)
        var other = demo
        other.seed += 1
        #expect(run(other).messages != a.messages)
    }

    @Test("messages come out in arrival order")
    func ordered() throws {
        let messages = run(try Scenario.load(path: Self.scenarioDirectory + "/demo.yaml")).messages
        #expect(zip(messages, messages.dropFirst()).allSatisfy { $0.arrival <= $1.arrival })
    }

    /// Readings of a fault-free one-day scenario, decoded, by kind.
    func day(_ sensors: String, start: String = "2026-02-10T00:00:00+07:00") throws -> [String: [Reading]] {
        let s = try scenario(
            "name: day\nstart: \"\(start)\"\nduration: 1d\nparks:\n  - {id: p, zones: [z], sensors: [\(sensors)]}\n")
        let decoder = JSONReadingDecoder()
        let pattern = try TopicPattern(TopicPattern.defaultPattern)
        var byKind: [String: [Reading]] = [:]
        for message in run(s).messages {
            let id = try #require(pattern.match(message.topic))
            byKind[id.kind, default: []].append(try decoder.decode(message.payload, arrival: message.arrival))
        }
        return byKind
    }

    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }

    func localHour(_ time: EventTime) -> Double {
        Double(((time.milliseconds + 7 * 3_600_000) % 86_400_000)) / 3_600_000
    }

    @Test("PV is zero at night and peaks near noon; load follows shifts; PM2.5 peaks after the rush")
    func shapes() throws {
        let readings = try day(
            "{kind: pv_power, count: 1, interval: 5m}, {kind: active_power, count: 1, interval: 5m}, {kind: pm25, count: 1, interval: 5m}, {kind: noise, count: 1, interval: 5m}"
        )
        let pv = try #require(readings["pv_power"])
        #expect(pv.filter { localHour($0.time) < 5.5 || localHour($0.time) > 18.5 }.allSatisfy { $0.value == 0 })
        let peak = try #require(pv.max { $0.value < $1.value })
        #expect(abs(localHour(peak.time) - 12) < 1.5, "PV peak at \(localHour(peak.time))")
        #expect(peak.value > 600)
        let load = try #require(readings["active_power"])
        let night = load.filter { localHour($0.time) < 5 }.map(\.value)
        let shift = load.filter { (8..<11).contains(localHour($0.time)) }.map(\.value)
        let nightMean = mean(night)
        let shiftMean = mean(shift)
        #expect(nightMean < 0.6 * shiftMean)
        let pm = try #require(readings["pm25"])
        let morning = pm.filter { (8.5..<9.5).contains(localHour($0.time)) }.map(\.value)
        let afternoon = pm.filter { (14..<15).contains(localHour($0.time)) }.map(\.value)
        let morningMean = mean(morning)
        let afternoonMean = mean(afternoon)
        #expect(morningMean > afternoonMean)
        let noise = try #require(readings["noise"])
        let day = noise.filter { (9..<17).contains(localHour($0.time)) }.map(\.value)
        let nightNoise = noise.filter { localHour($0.time) < 4 }.map(\.value)
        #expect(day.min()! > nightNoise.max()!)
    }

    @Test("PM2.5 sits higher in the dry season than in the rainy season")
    func seasons() throws {
        let dry = try #require(
            try day("{kind: pm25, count: 2, interval: 10m}", start: "2026-02-10T00:00:00+07:00")["pm25"])
        let rainy = try #require(
            try day("{kind: pm25, count: 2, interval: 10m}", start: "2026-08-10T00:00:00+07:00")["pm25"])
        let dryMean = mean(dry.map(\.value))
        let rainyMean = mean(rainy.map(\.value))
        #expect(dryMean > 1.8 * rainyMean)
    }

    @Test("counters only grow, except at the injected resets listed in the ground truth")
    func counters() throws {
        let s = try scenario(
            """
            name: counters
            duration: 1d
            parks: [{id: p, zones: [z], sensors: [{kind: energy, count: 5, interval: 1m}]}]
            faults: {counter_reset: {rate: 0.002}}
            """)
        let (messages, faults) = run(s)
        let resets = Set(faults.filter { $0.fault == "counter_reset" }.map { "\($0.series.sensor)#\($0.seq!)" })
        #expect(!resets.isEmpty)
        var last: [String: Double] = [:]
        var drops = Set<String>()
        let decoder = JSONReadingDecoder()
        for message in messages {
            let reading = try decoder.decode(message.payload, arrival: message.arrival)
            let sensor = String(message.topic.split(separator: "/").last!)
            if let previous = last[sensor], reading.value < previous { drops.insert("\(sensor)#\(reading.seq!)") }
            last[sensor] = reading.value
        }
        #expect(drops == resets)
    }

    @Test("each fault appears near its configured rate, does what it says, and is in the ground truth")
    func faultRates() throws {
        let s = try scenario(
            """
            name: faults
            duration: 6h
            parks: [{id: p, zones: [z], sensors: [{kind: pm25, count: 20, interval: 30s}]}]
            faults:
              dropout: {rate: 0.02}
              spike: {rate: 0.02, factor: 10}
              duplicate: {rate: 0.02}
              out_of_order: {rate: 0.02, delay: 40s}
              malformed: {rate: 0.02}
              calibration: {rate: 0.002, duration: 2m}
            """)
        let (messages, faults) = run(s)
        let emitted = 20 * 6 * 120  // sensors × hours × readings per hour
        let byKind = Dictionary(grouping: faults, by: \.fault)
        for name in ["dropout", "spike", "duplicate", "out_of_order", "malformed"] {
            let count = byKind[name]?.count ?? 0
            // Binomial: 2 % of 14 400 is 288, σ ≈ 17; 5σ either side.
            #expect(abs(count - 288) < 85, "\(name): \(count)")
        }
        #expect((byKind["calibration"]?.count ?? 0) > 10)
        // Dropouts leave exactly the listed gaps in each sensor's seq; duplicates come twice.
        let decoder = JSONReadingDecoder()
        var seen: [String: [Int64]] = [:]
        var malformed = 0
        var calibrating = 0
        for message in messages {
            guard let reading = try? decoder.decode(message.payload, arrival: message.arrival) else {
                malformed += 1
                continue
            }
            if reading.status == .calibrating { calibrating += 1 }
            seen[message.topic, default: []].append(reading.seq!)
        }
        #expect(
            malformed == byKind["malformed"]!.count
                + byKind["duplicate"]!.filter { d in
                    byKind["malformed"]!.contains { $0.series == d.series && $0.seq == d.seq }
                }.count)
        #expect(calibrating >= byKind["calibration"]!.count)
        let dropped = Set(byKind["dropout"]!.map { "\($0.series.sensor)#\($0.seq!)" })
        let malformedSeqs = Set(byKind["malformed"]!.map { "\($0.series.sensor)#\($0.seq!)" })
        for (topic, seqs) in seen {
            let sensor = String(topic.split(separator: "/").last!)
            let present = Set(seqs)
            let highest = seqs.max()!
            let missing = Set((1...highest).filter { !present.contains($0) }.map { "\(sensor)#\($0)" })
            let lost = dropped.union(malformedSeqs).filter { $0.hasPrefix(sensor + "#") }
            let expected = lost.subtracting(present.map { "\(sensor)#\($0)" })
            #expect(missing == expected)
        }
        #expect(messages.count == emitted - byKind["dropout"]!.count + byKind["duplicate"]!.count)
        // Out-of-order messages arrive 40 s after they were measured.
        let late = messages.filter { m in
            guard let r = try? decoder.decode(m.payload, arrival: m.arrival) else { return false }
            return m.arrival.milliseconds - r.time.milliseconds == 40_000
        }
        let lateAndReadable = byKind["out_of_order"]!.filter { o in
            !byKind["malformed"]!.contains { $0.series == o.series && $0.seq == o.seq }
        }
        #expect(late.count == lateAndReadable.count)
    }

    @Test("silences, drift, clock skew and exceedance episodes follow their schedule")
    func scheduledFaults() throws {
        let s = try scenario(
            """
            name: scheduled
            start: "2026-11-23T00:00:00+07:00"
            duration: 3h
            parks: [{id: p, zones: [z], sensors: [{kind: pm25, count: 4, interval: 1m}]}]
            faults:
              silence: {sensors: 1, after: 1h, duration: 30m}
              drift: {sensors: 1, per_day: 48}
              clock_skew: {sensors: 1, offset: 2m}
              exceedance: [{park: p, kind: pm25, start: "2026-11-23T02:00:00+07:00", duration: 30m, level: 90}]
            """)
        let (messages, faults) = run(s)
        #expect(Set(faults.map(\.fault)) == ["silence", "drift", "clock_skew", "exceedance"])
        let decoder = JSONReadingDecoder()
        let start = s.startTime.milliseconds
        let readings = messages.map { ($0.topic, try! decoder.decode($0.payload, arrival: $0.arrival), $0.arrival) }
        let silent = readings.filter {
            $0.0.hasSuffix("/aq-1") && (start + 3_600_000..<start + 5_400_000).contains($0.2.milliseconds)
        }
        #expect(silent.isEmpty)
        #expect(readings.filter { $0.0.hasSuffix("/aq-1") }.count == 150)
        let skewed = readings.filter { $0.0.hasSuffix("/aq-2") }
        #expect(skewed.allSatisfy { $0.1.time.milliseconds - $0.2.milliseconds == 120_000 })
        let episode = readings.filter { (start + 7_200_000..<start + 9_000_000).contains($0.2.milliseconds) }
        #expect(!episode.isEmpty && episode.allSatisfy { abs($0.1.value - 90) < 15 })
    }

    @Test(
        "scenario errors name the key",
        arguments: [
            ("name: x\nparks: []\n", "parks: at least one park"),
            (
                "name: x\nparks: [{id: p, zones: [z], sensors: [{kind: plutonium, count: 1, interval: 1m}]}]\n",
                "sensors[0].kind: 'plutonium'"
            ),
            (
                "name: x\nparks: [{id: p, zones: [z], sensors: [{kind: pm25, count: 1, interval: often}]}]\n",
                "sensors[0].interval"
            ),
            (
                "name: x\nparks: [{id: p, zones: [z], sensors: [{kind: pm25, count: 1, interval: 1m, format: xml}]}]\n",
                "format: 'xml'"
            ),
            (
                "name: x\nparks: [{id: p, zones: [z], sensors: []}]\nfaults: {dropout: {rate: 2}}\n",
                "faults.dropout.rate"
            ),
            ("parks: [{id: p, zones: [z], sensors: []}]\n", "name: missing"),
        ])
    func errors(yaml: String, expected: String) {
        let error = #expect(throws: ScenarioError.self) { try scenario(yaml) }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("every payload format the simulator sends decodes in parkd's decoder for it")
    func formats() throws {
        let s = try scenario(
            """
            name: formats
            duration: 10m
            parks: [{id: p, zones: [z], sensors: [
              {kind: pm25, count: 1, interval: 1m, format: json}, {kind: pm10, count: 1, interval: 1m, format: senml},
              {kind: noise, count: 1, interval: 1m, format: line}, {kind: ww_cod, count: 1, interval: 1m, format: number},
              {kind: soil_moisture, count: 1, interval: 1m, format: chirpstack},
              {kind: air_temperature, count: 1, interval: 1m, format: tts}]}]
            """)
        var formatsSeen = Set<String>()
        for message in run(s).messages {
            let root = String(message.topic.split(separator: "/").first!)
            let format: PayloadFormat =
                [
                    "parks": .json, "senml": .senml, "influx": .line, "raw": .number, "application": .chirpstack,
                    "v3": .tts,
                ][root]!
            var readings: [Reading] = []
            try PayloadDecoder(format: format).decode(message.payload, arrival: message.arrival, into: &readings)
            #expect(readings.count == 1)
            formatsSeen.insert(root)
        }
        #expect(formatsSeen.count == 6)
    }
}
