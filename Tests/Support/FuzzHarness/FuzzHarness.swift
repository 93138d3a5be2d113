import Foundation
import Logging
import ParkConfig
import ParkIngest
import Sparkplug
import TelemetryCore
import UplinkWire

/// The fuzz targets: each takes arbitrary bytes and drives one piece of parkd's input side
/// with them. A target must never trap; errors thrown for bad input are the expected answer.
/// `make fuzz` runs them under libFuzzer (`Fuzz/parkfuzz`); `make test` replays the checked-in
/// corpus and every input that ever crashed (`Tests/Fuzz/<target>/`) through the same code.
public enum FuzzHarness {
    public static let targets = [
        "json", "number", "senml", "line", "lorawan", "feed", "topic", "config", "pipeline", "uplink", "sparkplug",
        "snapshot",
    ]

    /// Where the corpus and regression inputs of each target live.
    public static let corpusRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz").path

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let arrival = EventTime(milliseconds: 1_795_400_000_000)

    /// Runs `target` on `bytes`; returns false for an unknown target.
    @discardableResult
    public static func run(_ target: String, _ bytes: [UInt8]) -> Bool {
        var readings: [Reading] = []
        switch target {
        case "json": decode(.json, bytes, &readings)
        case "number": decode(.number, bytes, &readings)
        case "senml": decode(.senml, bytes, &readings)
        case "line": decode(.line, bytes, &readings)
        case "lorawan":
            decode(bytes.first.map { $0 & 1 == 0 } ?? true ? .chirpstack : .tts, Array(bytes.dropFirst()), &readings)
        case "feed":
            if let record = try? FeedRecord.parse(line: bytes) {
                // What replay writes back must read again as the same record.
                let again = try? FeedRecord.parse(line: Array(record.line.utf8))
                precondition(again == record, "feed line does not round-trip")
            }
        case "topic": topic(bytes)
        case "config":
            _ = try? DaemonConfiguration.parse(String(decoding: bytes, as: UTF8.self), file: "/nonexistent/fuzz.yaml")
        case "pipeline": pipeline(bytes)
        case "uplink":
            // What the central worker checks before it stores a batch from the network.
            if case .failure(let reason) = UplinkBatch.validate(bytes, gateway: "p1") {
                precondition(!reason.description.isEmpty, "a refusal without a reason")
            }
        case "sparkplug": sparkplug(bytes)
        case "snapshot": snapshot(bytes)
        default: return false
        }
        return true
    }

    /// The input as a window snapshot's body, given its right checksum so the decoder itself
    /// is what meets it (a file damaged where the checksum still holds, or written by a buggy
    /// build), under two window layouts (the default; one whose 8 h window shares the 24 h
    /// window's buckets): restore refuses it or takes it, and what it took saves, restores and
    /// saves again to the same bytes.
    static func snapshot(_ bytes: [UInt8]) {
        for layout in snapshotLayouts.indices {
            guard let (pipeline, _, saved) = restoreSnapshot(bytes, layout: layout) else { continue }
            let first = pipeline.snapshot(at: saved)
            let again = IngestPipeline(settings: pipeline.settings, logger: Logger(label: "fuzz"))
            guard (try? again.restore(snapshot: first)) != nil, again.snapshot(at: saved) == first else {
                preconditionFailure("a restored snapshot did not save and restore to the same bytes")
            }
        }
    }

    /// A snapshot body restored as the `snapshot` target does: the pipeline, its series, when it was saved.
    public static func restoreSnapshot(_ bytes: [UInt8], layout: Int = 0) -> (IngestPipeline, Int, EventTime)? {
        var settings = snapshotLayouts[layout]
        settings.limits.maxSeries = 64
        let file = bytes + withUnsafeBytes(of: fnv1a64(bytes).littleEndian) { Array($0) }
        let pipeline = IngestPipeline(settings: settings, logger: Logger(label: "fuzz"))
        guard let (count, saved) = try? pipeline.restore(snapshot: file) else { return nil }
        return (pipeline, count, saved)
    }

    /// The window layouts the seeds were saved with by parkd: the default configuration's
    /// (seed-v4, seed-v1), and 1m, 1h, 8h and 24h with the 8 h window sharing (seed-v4-shared).
    static let snapshotLayouts = [
        "",
        """
        windows:
          - {name: 1m, length: 1m, bucket: 15s}
          - {name: 1h, length: 1h, bucket: 15m}
          - {name: 8h, length: 8h, bucket: 1h}
          - {name: 24h, length: 24h, bucket: 1h}
        """,
    ].map {
        (try? DaemonConfiguration.parse("broker: {url: \"mqtt://127.0.0.1:1\"}\n" + $0, file: "/nonexistent/fuzz.yaml"))!
            .pipelineSettings
    }

    /// The whole input as one Sparkplug payload (what decodes must encode and decode the same,
    /// and read as finite numbers), then split at 0xFF into messages to one host: each
    /// message's first byte picks its type (NBIRTH, DBIRTH, NDATA, DDATA, NDEATH, DDEATH) and how
    /// far the clock moves, so births, aliases, sequence gaps and deaths carry between them.
    static func sparkplug(_ bytes: [UInt8]) {
        if case .success(let payload) = SparkplugPayload.decode(bytes) {
            precondition(
                SparkplugPayload.decode(payload.encoded()) == .success(payload), "a payload does not round-trip")
            for metric in payload.metrics {
                if case .success(let v) = metric.number(as: metric.datatype) { precondition(v.isFinite, "not finite") }
            }
        }
        var settings = IngestPipeline.Settings(
            routes: [.sparkplug(SparkplugMapping(), kinds: ["a": "active_power", "b/c": "pm25", "d": "humidity"])])
        settings.sparkplug.requestRebirth = true
        settings.limits.maxSeries = 200
        let pipeline = IngestPipeline(settings: settings, logger: Logger(label: "fuzz"))
        let topics = [
            "spBv1.0/g/NBIRTH/n", "spBv1.0/g/DBIRTH/n/d", "spBv1.0/g/NDATA/n", "spBv1.0/g/DDATA/n/d",
            "spBv1.0/g/NDEATH/n", "spBv1.0/g/DDEATH/n/d", "spBv1.0/STATE/h", "spBv1.0/g/NCMD/n",
        ]
        var clock = arrival.milliseconds
        for chunk in bytes.split(separator: 0xFF, omittingEmptySubsequences: false).prefix(64) {
            guard let head = chunk.first else { continue }
            clock += Int64(head >> 3) * 500
            let now = EventTime(milliseconds: clock)
            pipeline.ingest(topic: topics[Int(head & 7)], payload: Array(chunk.dropFirst()), arrival: now)
            pipeline.tick(at: now)
        }
        _ = pipeline.takeAlerts()
        _ = pipeline.takeRebirthRequests()
        // What the host saves restores into a fresh pipeline.
        if let saved = pipeline.sparkplugState {
            let restored = IngestPipeline(settings: settings, logger: Logger(label: "fuzz"))
            restored.restoreSparkplug(saved)
            precondition(restored.sparkplugState?.nodes.keys == saved.nodes.keys, "the host state does not restore")
        }
    }

    static func decode(_ format: PayloadFormat, _ bytes: [UInt8], _ readings: inout [Reading]) {
        let decoder = PayloadDecoder(format: format, maxBytes: 1 << 20)
        guard (try? decoder.decode(bytes, arrival: arrival, into: &readings)) != nil else { return }
        for reading in readings {
            precondition(reading.value.isFinite, "a decoder let a non-finite value through")
            precondition(EventTime.representable.contains(reading.time.milliseconds), "unrepresentable time")
        }
    }

    /// The first line is a pattern, the rest topics to match against it.
    static func topic(_ bytes: [UInt8]) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, let pattern = try? TopicPattern(String(first)) else { return }
        for line in lines.dropFirst() { _ = pattern.match(String(line)) }
    }

    /// A configuration with every route and every shipped rule pack, built once.
    static let pipelineConfiguration: DaemonConfiguration? = {
        let rules = [
            "qcvn05-2023-ambient-air", "qcvn26-2010-noise", "qcvn40-2011-wastewater-b", "sensor-health", "energy",
        ]
        .map { "\(repositoryRoot)/Deploy/rules/\($0).yaml" }
        let text = """
            broker: {url: "mqtt://127.0.0.1:1"}
            topics:
              - {pattern: "parks/{park}/{zone}/{pillar}/{kind}/{sensor}"}
              - {pattern: "raw/{park}/{zone}/{pillar}/{kind}/{sensor}", format: number}
              - {pattern: "senml/{park}/{zone}/{pillar}/{kind}/{sensor}", format: senml}
              - {pattern: "influx/{park}/{zone}/{pillar}/{kind}/{sensor}", format: line}
              - {pattern: "application/+/device/{sensor}/event/up", fixed: {park: p, zone: lora, pillar: green, kind: lorawan}, format: chirpstack}
              - {pattern: "v3/+/devices/{sensor}/up", fixed: {park: p, zone: lora, pillar: green, kind: lorawan}, format: tts}
            windows:
              - {name: 1m, length: 1m, bucket: 15s}
              - {name: 15m, length: 15m, bucket: 5m}
              - {name: 1h, length: 1h, bucket: 15m}
              - {name: 8h, length: 8h, bucket: 1h}
              - {name: 24h, length: 24h, bucket: 1h}
            rule_files: [\(rules.map { "\"\($0)\"" }.joined(separator: ", "))]
            limits: {max_series: 200, max_series_per_park: 100, max_new_series_per_message: 8, series_ttl: 10m}
            parks: {p: {wastewater: {zone: z, kq: 0.9, kf: 0.9}, zones: {z: ordinary}}}
            tariffs: "\(repositoryRoot)/Deploy/tariffs/evn-2026-reported.yaml"
            expected_sensors:
              - {park: q, zone: z, pillar: energy, kind: energy, sensor: m1, role: grid_import}
              - {park: q, zone: z, pillar: energy, kind: energy, sensor: m2, role: grid_export}
            """
        return try? DaemonConfiguration.parse(text, file: "\(repositoryRoot)/Deploy/config/fuzz.yaml")
    }()

    static let topics = [
        "parks/p/z/emissions/pm25/s1", "parks/p/z/emissions/noise/n1", "parks/q/z/energy/energy/m1",
        "raw/p/z/emissions/pm25/s2", "senml/p/z/emissions/pm25/s3", "influx/p/z/energy/active_power/m2",
        "application/a/device/d1/event/up", "v3/a/devices/d1/up", "parks/p/z/green/soil_moisture/g1",
    ]

    /// Several messages through one pipeline with rules: bytes are split at 0xFF; each
    /// message's first byte picks the topic, the retained flag and how far the clock moves,
    /// so state carried between messages (watermarks, silence, episodes) is exercised too.
    static func pipeline(_ bytes: [UInt8]) {
        guard let configuration = pipelineConfiguration else { preconditionFailure("fuzz configuration") }
        let pipeline = IngestPipeline(settings: configuration.pipelineSettings, logger: Logger(label: "fuzz"))
        var clock = arrival.milliseconds
        for chunk in bytes.split(separator: 0xFF, omittingEmptySubsequences: false).prefix(64) {
            guard let head = chunk.first else { continue }
            // Head 0: the topic is the chunk's text up to its first space, from the wire too.
            let topic =
                head == 0
                ? String(decoding: chunk.dropFirst().prefix { $0 != 0x20 }, as: UTF8.self)
                : topics[Int(head) % topics.count]
            clock += Int64(head >> 4) * 600_000
            let now = EventTime(milliseconds: clock)
            pipeline.ingest(topic: topic, payload: Array(chunk.dropFirst()), arrival: now, retained: head & 8 != 0)
            if head & 4 != 0 { pipeline.tick(at: now) }
        }
        pipeline.tick(at: EventTime(milliseconds: clock + 86_400_000))
        _ = pipeline.takeAlerts()
        let detail = pipeline.takeInterval(from: arrival, to: EventTime(milliseconds: clock), details: true)
        _ = SummaryFormat.seriesLines(detail, from: arrival, to: EventTime(milliseconds: clock), utcOffsetMinutes: 420)
        // What was saved restores into a fresh pipeline, lean and detailed windows alike.
        let saved = pipeline.snapshot(at: EventTime(milliseconds: clock))
        let restored = IngestPipeline(settings: configuration.pipelineSettings, logger: Logger(label: "fuzz"))
        guard let (count, _) = try? restored.restore(snapshot: saved), count == pipeline.seriesCount else {
            preconditionFailure("a snapshot did not restore")
        }
    }
}
