import BrokerHarness
import Foundation
import Logging
import ParkConfig
import ParkIngest
import ParkSimulation
import Sparkplug
import TelemetryCore
import UplinkWire

/// Decode + every window update on one core, per payload format; resident memory per series
/// with the default windows (1 m, 15 m, 1 h, 24 h).
enum CoreBenchmark {
    static func nanoseconds(since start: ContinuousClock.Instant, count: Int) -> Int {
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.inSeconds
        return Int(seconds / Double(count) * 1e9)
    }

    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kb * 1024
    }

    static func pipeline(_ format: PayloadFormat, maxSeries: Int = 1_000_000) -> IngestPipeline {
        let pattern =
            format == .json
            ? try! TopicPattern(TopicPattern.defaultPattern)
            : try! TopicPattern("parks/{park}/{zone}/{pillar}/{kind}/{sensor}")
        return IngestPipeline(
            settings: .init(
                routes: [TopicRoute(pattern: pattern, decoder: PayloadDecoder(format: format))],
                limits: .init(maxSeries: maxSeries)),
            logger: Logger(label: "bench"))
    }

    /// Messages of `format` from `sensors` sensors, one reading each, a second apart per sensor.
    static func feed(_ format: PayloadFormat, count: Int, sensors: Int) -> [(String, [UInt8], EventTime)] {
        var generator = TrafficGenerator(parks: max(1, sensors / 100), sensorsPerPark: min(100, sensors), seed: 2)
        let base = Int64(1_795_400_000_000)
        return (0..<count).map { i in
            let time = EventTime(milliseconds: base + Int64(i / sensors) * 1000 + Int64(i % sensors))
            let m = generator.next(at: time)
            let sensor = generator.sensors[i % generator.sensors.count]
            let value = Double(m.payload.split(separator: ":")[1].split(separator: ",")[0]) ?? 1
            let payload: String
            switch format {
            case .senml:
                payload =
                    "[{\"bn\":\"\(sensor.id.sensor)/\",\"bt\":\(time.seconds),\"n\":\"\(sensor.id.kind)\",\"u\":\"\(sensor.profile.unit)\",\"v\":\(value)}]"
            case .line:
                payload =
                    "\(sensor.id.kind),sensor=\(sensor.id.sensor) \(sensor.id.kind)=\(value) \(time.milliseconds * 1_000_000)"
            default:
                payload = m.payload
            }
            return (m.topic, Array(payload.utf8), time)
        }
    }

    static func run(
        messages: Int, sensors: Int = 10_000, formats: [PayloadFormat] = [.json, .senml, .line], memory: Bool = true
    ) {
        print("parkbench core: decode + 4 window updates (1m, 15m, 1h, 24h) per reading, one thread")
        // The parts on their own, to see where the time goes.
        let sample = feed(.json, count: 1_000_000, sensors: 10_000)
        let decoder = PayloadDecoder(format: .json)
        var readings: [Reading] = []
        var clock = ContinuousClock.now
        for (_, payload, time) in sample {
            readings.removeAll(keepingCapacity: true)
            try? decoder.decode(payload, arrival: time, into: &readings)
        }
        print("  part   JSON decode alone: \(nanoseconds(since: clock, count: sample.count)) ns per message")
        var states = (0..<10_000).map { _ in SeriesState(windows: WindowSpec.defaults()) }
        let decoded = sample.map { (try? decoder.json.decode($0.1, arrival: $0.2)) ?? Reading(value: 0, time: $0.2) }
        clock = ContinuousClock.now
        for (index, reading) in decoded.enumerated() { states[index % 10_000].add(reading) }
        print(
            "  part   series add alone (raw ring + 4 windows): \(nanoseconds(since: clock, count: sample.count)) ns per reading"
        )
        var topics: [String: Int] = [:]
        for (topic, _, _) in sample where topics[topic] == nil { topics[topic] = topics.count }
        clock = ContinuousClock.now
        var found = 0
        for (topic, _, _) in sample { found &+= topics[topic] ?? 0 }
        print(
            "  part   topic lookup alone: \(nanoseconds(since: clock, count: sample.count)) ns per message (\(found % 2))"
        )
        for format in formats {
            let messages = format == .json ? messages : messages / 4
            let input = feed(format, count: messages, sensors: sensors)
            let p = pipeline(format)
            let start = ContinuousClock.now
            for (topic, payload, time) in input { p.ingest(topic: topic, payload: payload, arrival: time) }
            let elapsed = ContinuousClock.now - start
            let seconds = elapsed.inSeconds
            let accepted = p.totals.accepted
            print(
                String(
                    format: "  %-6@ %9d readings in %.2fs = %8.0f readings/s (%.0f ns each), %d accepted",
                    format.rawValue as NSString, messages, seconds, Double(messages) / seconds,
                    seconds / Double(messages) * 1e9,
                    accepted))
        }
        sparkplug(messages: messages / 2)
        guard memory else { return }
        // Each size in a fresh process, so that memory freed above cannot hide what is used.
        for seriesCount in [10_000, 100_000] {
            let output =
                (try? Command.run(CommandLine.arguments[0], ["memory", "--sensors", "\(seriesCount)"])) ?? "failed\n"
            print(output, terminator: "")
        }
    }

    /// Resident memory of a pipeline holding `seriesCount` series with every bucket in use.
    static func memory(seriesCount: Int) {
        let before = residentBytes()
        let p = pipeline(.json)
        var generator = TrafficGenerator(
            parks: max(1, seriesCount / 100), sensorsPerPark: min(100, seriesCount), seed: 3)
        let base = Int64(1_795_400_000_000)
        // 30 readings per series, 48 minutes apart: every bucket of the 24 h window is in use.
        for round in 0..<30 {
            for _ in 0..<seriesCount {
                let time = EventTime(milliseconds: base + Int64(round) * 48 * 60_000)
                let m = generator.next(at: time)
                p.ingest(topic: m.topic, payload: Array(m.payload.utf8), arrival: time)
            }
        }
        let after = residentBytes()
        let perSeries = Double(after - before) / Double(seriesCount)
        print(
            String(
                format: "  memory %6d series: %.0f MiB resident for the pipeline, %.1f KiB per series (%d series held)",
                seriesCount, Double(after - before) / 1_048_576, perSeries / 1024, p.seriesCount))
        withExtendedLifetime(p) {}
    }

    /// Sparkplug B beside JSON in the same run: 100 edge nodes of 100 devices, born once, then
    /// DDATA by alias (seq in order per node) through the whole pipeline: one metric a message
    /// (the cost per message beside a JSON reading) and five (a meter's usual DDATA).
    static func sparkplug(messages: Int) {
        let kinds = [
            "m0": "active_power", "m1": "pv_power", "m2": "battery_soc", "m3": "humidity", "m4": "soil_moisture",
        ]
        for metricsPerMessage in [1, 5] {
            let p = IngestPipeline(
                settings: .init(
                    routes: [.sparkplug(SparkplugMapping(), kinds: kinds)],
                    limits: .init(maxSeries: 1_000_000, maxSeriesPerPark: 1_000_000)),
                logger: Logger(label: "bench"))
            let base = Int64(1_795_400_000_000)
            let arrival = EventTime(milliseconds: base)
            var seq = [UInt64](repeating: 0, count: 100)
            for node in 0..<100 {
                let birth = SparkplugPayload(
                    timestamp: UInt64(base), seq: 0, metrics: [.init(name: "bdSeq", datatype: 4, value: .long(0))])
                p.ingest(topic: "spBv1.0/bench/NBIRTH/n\(node)", payload: birth.encoded(), arrival: arrival)
                for device in 0..<100 {
                    seq[node] = (seq[node] + 1) % 256
                    let metrics = (0..<metricsPerMessage).map { k in
                        SparkplugPayload.Metric(name: "m\(k)", alias: UInt64(k), datatype: 10, value: .double(1))
                    }
                    let dbirth = SparkplugPayload(timestamp: UInt64(base), seq: seq[node], metrics: metrics)
                    p.ingest(
                        topic: "spBv1.0/bench/DBIRTH/n\(node)/d\(device)", payload: dbirth.encoded(), arrival: arrival)
                }
            }
            let input = (0..<messages).map { i -> (String, [UInt8], EventTime) in
                let device = i % 10_000
                let node = device / 100
                seq[node] = (seq[node] + 1) % 256
                let time = EventTime(milliseconds: base + 1000 + Int64(i / 10_000) * 1000 + Int64(device % 1000))
                let metrics = (0..<metricsPerMessage).map { k in
                    SparkplugPayload.Metric(
                        alias: UInt64(k), timestamp: UInt64(time.milliseconds), value: .double(Double(i % 100) + 0.5))
                }
                let payload = SparkplugPayload(timestamp: UInt64(time.milliseconds), seq: seq[node], metrics: metrics)
                return ("spBv1.0/bench/DDATA/n\(node)/d\(device % 100)", payload.encoded(), time)
            }
            if metricsPerMessage == 1 {
                let clock = ContinuousClock.now
                var decoded = 0
                for (_, payload, _) in input {
                    if case .success(let d) = SparkplugPayload.decode(payload) { decoded &+= d.metrics.count }
                }
                print(
                    "  part   Sparkplug decode alone (1 metric): \(nanoseconds(since: clock, count: input.count)) ns per message (\(decoded % 2))"
                )
            }
            let start = ContinuousClock.now
            for (topic, payload, time) in input { p.ingest(topic: topic, payload: payload, arrival: time) }
            let seconds = (ContinuousClock.now - start).inSeconds
            let readings = messages * metricsPerMessage
            print(
                String(
                    format:
                        "  %-10@ %9d messages in %.2fs = %8.0f messages/s (%.0f ns each, %.0f ns a reading), %d accepted",
                    "spB \(metricsPerMessage)/msg" as NSString, messages, seconds, Double(messages) / seconds,
                    seconds / Double(messages) * 1e9, seconds / Double(readings) * 1e9, p.totals.accepted))
        }
    }
}
