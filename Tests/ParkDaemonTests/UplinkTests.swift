import Foundation
import MQTTClient
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

@Suite("Uplink: configuration, names, outbox")
struct UplinkTests {
    static let base = "broker: {url: mqtt://127.0.0.1:1883}\nparks: {p1: {area_m2: 1}}\n"

    func parse(_ yaml: String) throws(ConfigurationError) -> DaemonConfiguration {
        try DaemonConfiguration.parse(yaml, file: "/etc/parkd/parkd.yaml")
    }

    @Test("uplink: defaults (the park's name, its own session, every kind), a cluster's addresses")
    func configuration() throws {
        let c = try parse(
            Self.base
                + "uplink:\n  broker: {urls: [mqtt://127.0.0.1:4001, mqtt://127.0.0.1:4002]}\n  shard: s1\n  rate: 500\n"
        )
        let uplink = try #require(c.uplink)
        #expect(uplink.gateway == "p1")
        #expect(uplink.topic == "uplink/s1/p1")
        #expect(uplink.broker.clientID == "parkd-uplink-p1")
        #expect(uplink.broker.cleanSession == false)
        // MQTT 5 where the broker speaks it (a refused publish is then told apart), else 3.1.1.
        #expect(uplink.broker.protocolVersion == .auto)
        #expect(uplink.broker.connectTimeout == 10)
        #expect(uplink.broker.fallbackURLs.map(\.port) == [4002])
        #expect(uplink.kinds == Set(DaemonConfiguration.Uplink.Kind.allCases))
        #expect(uplink.rate == 500)
        // check-config prints it, and what it prints reads back the same.
        let again = try parse(c.effectiveYAML)
        #expect(again.effectiveYAML == c.effectiveYAML)
        #expect(c.effectiveYAML.contains("  shard: s1  # topic uplink/s1/p1\n"))
        #expect(again.uplink?.broker.fallbackURLs.map(\.port) == [4002])
    }

    @Test(
        "uplink errors name the key and the reason",
        arguments: [
            ("uplink:\n  shard: s1\n", "uplink: missing 'broker'"),
            ("uplink:\n  broker: {url: mqtt://h}\n", "missing 'shard'"),
            (
                "uplink:\n  broker: {url: mqtt://h}\n  shard: S 1\n",
                "shard 'S 1' must be 1 to 64 characters of [a-z0-9_-]"
            ),
            ("uplink:\n  broker: {url: mqtt://h}\n  shard: s1\n  gateway: Gw.1\n", "gateway 'Gw.1' must be"),
            ("uplink:\n  broker: {url: mqtt://h, connect_timeout: 0s}\n  shard: s1\n", "connect_timeout"),
            (
                "uplink:\n  broker: {url: mqtt://h}\n  shard: s1\n  batch_bytes: 2097152\n",
                "uplink.batch_bytes: 2097152 is above 983040 (960 KiB): the gateway's mosquitto and the NATS cluster refuse"
            ),
            ("uplink:\n  broker: {url: mqtt://h}\n  shard: s1\n  send: [alarms]\n", "expected one of alerts"),
            (
                "uplink:\n  broker: {url: mqtt://h}\n  shard: s1\n  max_items: 5\n",
                "uplink.max_items: 5 is out of range"
            ),
            ("history: {path: off}\nuplink:\n  broker: {url: mqtt://h}\n  shard: s1\n", "history.path must not be off"),
            ("uplink:\n  broker: {url: mqtt://h}\n  shard: s1\n  topic_prefix: up/Link\n", "topic_prefix 'up/Link'"),
            (
                "parks: {p2: {area_m2: 1}, p3: {area_m2: 1}}\nuplink:\n  broker: {url: mqtt://h}\n  shard: s1\n",
                "missing 'gateway'"
            ),
            (
                "parks: {Park One: {area_m2: 1}}\nuplink:\n  broker: {url: mqtt://h}\n  shard: s1\n",
                "it defaults to the park's name, but 'Park One' is not [a-z0-9_-]"
            ),
        ])
    func errors(yaml: String, expected: String) {
        let text =
            "broker: {url: mqtt://127.0.0.1:1883}\n" + (yaml.hasPrefix("parks") ? "" : "parks: {p1: {area_m2: 1}}\n")
            + yaml
        let error = #expect(throws: ConfigurationError.self) { try parse(text) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test("only the gateway and the shard must be topic-safe; real sensor names pass with an uplink")
    func names() throws {
        #expect(UplinkName.isValid("zone-a_1"))
        for bad in ["", "Zone", "a b", "a.b", "a/b", "ở", String(repeating: "a", count: 65)] {
            #expect(!UplinkName.isValid(bad), "\(bad)")
        }
        // Upper case, dots and DevEUIs, as real parks name sensors: accepted with an uplink.
        let c = try parse(
            Self.base
                + """
                uplink: {broker: {url: mqtt://127.0.0.1:4001}, shard: s1}
                expected_sensors:
                  - {park: p1, zone: Zone.B, pillar: emissions, kind: pm25, sensor: AQ-01}
                  - {park: p1, zone: lora, pillar: green, kind: soil_moisture, sensor: 70B3D57ED0041234}
                """)
        let admission = Admission(catalog: .standard)
        for id in c.expectedSensors + [
            SeriesID(park: "p1", zone: "zone-b", pillar: .green, kind: "soil_moisture", sensor: "soil.2")
        ] {
            #expect(
                admission.openingProblem(
                    id, named: false, openedByMessage: 0, parkSeries: 0, totalSeries: 0, limits: c.limits) == nil,
                "\(id)")
        }
        // Their items carry the names inside the JSON, and the central side takes the batch.
        var batch = HistoryBatch()
        batch.rollups = [
            Rollup(series: c.expectedSensors[0], start: Self.origin, count: 1, sum: 3, min: 3, max: 3, last: 3)
        ]
        let items = UplinkItem.items(from: batch, gateway: "p1", kinds: [.rollups])
        #expect(items.map(\.id) == ["p1/r/p1/Zone.B/emissions/pm25/AQ-01/\(Self.origin)"])
        let entries = items.enumerated().map { n, item in
            Outbox.Entry(
                seq: Int64(n + 1), kind: item.kind.rawValue, id: item.id, at: item.at, body: item.body, attempts: 0)
        }
        let message = Outbox.message(gateway: "p1", entries: entries)
        #expect(message.skipped.isEmpty)
        #expect(try CentralSink.check(message.payload, topicGateway: "p1").items.count == 1)
        // The gateway's own name still goes into the topic: it is checked.
        #expect(throws: ConfigurationError.self) {
            try parse(Self.base + "uplink: {broker: {url: mqtt://127.0.0.1:4001}, shard: s1, gateway: Gateway A}\n")
        }
    }

    static let series = SeriesID(park: "p1", zone: "z1", pillar: .emissions, kind: "pm25", sensor: "a")

    /// 2026-01-01T00:00Z: item times must be plausible for the central side.
    static let origin: Int64 = 1_767_225_600_000

    static func batch(hours: Range<Int>) -> HistoryBatch {
        var batch = HistoryBatch()
        for hour in hours {
            batch.rollups.append(
                Rollup(
                    series: series, start: origin + Int64(hour) * 3_600_000, count: 2, sum: 4, min: 1, max: 3, last: 3))
        }
        batch.alerts = [(origin + 7, "{\"rule\":\"x\"}")]
        batch.summaries = [("1h", origin, "{\"period\":\"1h\"}")]
        return batch
    }

    @Test("items carry ids fixed by what they are; the outbox keeps the order, the bounds drop the oldest")
    func outbox() throws {
        let items = UplinkItem.items(from: Self.batch(hours: 0..<2), gateway: "g", kinds: [.rollups, .alerts])
        #expect(
            items.map(\.id) == [
                "g/r/p1/z1/emissions/pm25/a/\(Self.origin)", "g/r/p1/z1/emissions/pm25/a/\(Self.origin + 3_600_000)",
                "g/a/\(Self.origin + 7)/\(UplinkItemID.hash("{\"rule\":\"x\"}"))",
            ])
        #expect(items == UplinkItem.items(from: Self.batch(hours: 0..<2), gateway: "g", kinds: [.rollups, .alerts]))
        // FNV-1a 64 of the empty string is its offset basis.
        #expect(UplinkItemID.hash("") == "cbf29ce484222325")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parktelemetry-unit-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("h.sqlite").path
        let store = try HistoryStore(path: path)
        let policy = OutboxPolicy(
            gateway: "g", kinds: Set(DaemonConfiguration.Uplink.Kind.allCases), maxItems: 1000,
            maxAgeMilliseconds: 86_400_000)
        // 998 rollups + an alert + a summary: 1000 items, within the bound.
        var result = try store.write(
            Self.batch(hours: 0..<998), retention: HistoryRetention(), outbox: policy, now: 1000)
        #expect(result == (1000, 0))
        let outbox = try Outbox(path: path)
        let first = try outbox.peek(limit: 3, maxBytes: 1 << 20)
        #expect(first.map(\.id) == (0..<3).map { "g/r/p1/z1/emissions/pm25/a/\(Self.origin + Int64($0) * 3_600_000)" })
        #expect(first.map(\.seq) == [1, 2, 3])
        // Bytes bound the batch too, but never below one item.
        #expect(try outbox.peek(limit: 100, maxBytes: 1).count == 1)
        // 5 more: the 5 oldest go.
        result = try store.write(
            Self.batch(hours: 998..<1001), retention: HistoryRetention(), outbox: policy, now: 2000)
        #expect(result == (5, 5))
        #expect(try outbox.depth().items == 1000)
        #expect(try outbox.peek(limit: 1, maxBytes: 1 << 20).first?.seq == 6)
        // Acknowledged items go; the next peek starts after them.
        try outbox.markSent(from: 6, through: 10)
        try outbox.remove(through: 10)
        let next = try #require(try outbox.peek(limit: 1, maxBytes: 1 << 20).first)
        #expect(next.seq == 11 && next.attempts == 0)
        // Past max_age (a day after they were queued) everything old goes.
        result = try store.write(HistoryBatch(), retention: HistoryRetention(), outbox: policy, now: 2001 + 86_400_000)
        #expect(result.dropped == 995)  // 1 000 less the 5 acknowledged
        #expect(try outbox.depth() == (0, nil))

        let message = Outbox.message(gateway: "g", entries: first).payload
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any])
        #expect(decoded["gateway"] as? String == "g")
        #expect((decoded["items"] as? [[String: Any]])?.count == 3)
        #expect(try CentralSink.check(message, topicGateway: "g").items.count == 3)
        #expect(throws: CentralSink.Refusal.self) { try CentralSink.check(message, topicGateway: "other") }
        #expect(throws: CentralSink.Refusal.self) { try CentralSink.check(Array("{\"v\":2}".utf8), topicGateway: nil) }
    }

    @Test("a history interval closes on the clock only once its series is quiet for the lateness")
    func quietClose() {
        var stage = HistoryStage(resolutionMilliseconds: 300_000, utcOffsetMinutes: 0)
        stage.opened(slot: 0, decibels: false, counter: false)
        for minute in 0..<3 {
            stage.observe(
                slot: 0, Self.series, Reading(value: 1, time: EventTime(milliseconds: Int64(minute) * 60_000)))
        }
        // The interval ended long ago, but its series is still receiving: it stays open.
        stage.advance(to: EventTime(milliseconds: 3_600_000), ids: [Self.series], quiet: { _ in false })
        #expect(stage.take().isEmpty)
        stage.observe(slot: 0, Self.series, Reading(value: 1, time: EventTime(milliseconds: 240_000)))
        stage.advance(to: EventTime(milliseconds: 3_600_000), ids: [Self.series], quiet: { _ in true })
        #expect(stage.take().map(\.count) == [4])
    }

    @Test(
        "central configuration errors name the key and the reason",
        arguments: [
            ("shards: [s1]\npostgres: x\n", "missing 'broker'"),
            ("broker: {url: mqtt://h}\npostgres: x\n", "missing 'shards'"),
            ("broker: {url: mqtt://h}\nshards: []\npostgres: x\n", "needs at least one shard"),
            ("broker: {url: mqtt://h}\nshards: [s1, s1]\npostgres: x\n", "a shard is listed twice"),
            ("broker: {url: mqtt://h}\nshards: [S1]\npostgres: x\n", "shard 'S1' must be [a-z0-9_-]"),
            ("broker: {url: mqtt://h}\nshards: [s1]\n", "missing 'postgres'"),
            ("broker: {url: mqtt://h}\nshards: [s1]\npostgres: x\npostgres_env: Y\n", "not both"),
            ("broker: {url: mqtt://h, protocol: 5}\nshards: [s1]\npostgres: x\n", "speaks MQTT 3.1.1 only"),
            ("broker: {url: mqtt://h, client_id: Central}\nshards: [s1]\npostgres: x\n", "client_id 'Central'"),
            ("broker: {url: mqtt://h}\nshards: [s1]\npostgres: x\nlog: {level: loud}\n", "log.level: expected one of"),
            ("broker: {url: mqtt://h}\nshards: [s1]\npostgres: x\nhttp: {listen: nowhere}\n", "expected host:port"),
        ])
    func centralErrors(yaml: String, expected: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parktelemetry-unit-\(UUID()).yaml")
            .path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: ConfigurationError.self) { try CentralConfiguration.load(path: path) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
        #expect(error?.description.hasPrefix(path) == true)
    }

    @Test("a central configuration's defaults: a session per shard, loopback metrics")
    func centralDefaults() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parktelemetry-unit-\(UUID()).yaml")
            .path
        try "broker: {urls: [mqtt://127.0.0.1:4001, mqtt://127.0.0.1:4002]}\nshards: [s1, s2]\npostgres: dbname=p\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try CentralConfiguration.load(path: path)
        let session = c.sessionConfiguration(shard: "s2")
        #expect(session.clientID == "parkd-central-s2" && session.cleanSession == false)
        #expect(session.subscriptions == [.init("uplink/s2/#", qos: .atLeastOnce)])
        #expect(session.fallbackURLs.map(\.port) == [4002])
        #expect(c.listen == HTTPListen(host: "127.0.0.1", port: 9109))
    }
}
