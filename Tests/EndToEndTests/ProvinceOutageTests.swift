import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// The uplink across a day-long outage, compressed into seconds: a real sensor broker, a real
/// upstream broker (stopped for the outage), a real PostgreSQL and `parkd-central`.
@Suite("Province: uplink outage into PostgreSQL", .serialized)
struct ProvinceOutageTests {
    static let sensors = (1...6).map { "s\($0)" }
    static let step: Int64 = 300_000

    /// Reading k of `sensor`: s1 is at 90 µg/m³ from 05:00 to 07:00 of the day (k 60..<84),
    /// which fires and then resolves `pm25-high` (2 transitions); everything else is 20–26.
    static func value(_ sensor: String, _ k: Int) -> Double {
        sensor == "s1" && (60..<84).contains(k) ? 90 : Double(20 + k % 7)
    }

    @Test(
        "a day's outage: the outbox fills, the uplink returns, parkd is killed (-9) while it drains; every rollup and alert reaches PostgreSQL exactly once, in order per series"
    )
    func outageDay() throws {
        let pg = try PostgresServer()
        let sensorBroker = try Broker()
        let upstreamDirectory = try Scratch.makeDirectory(prefix: "upstream")
        defer { try? FileManager.default.removeItem(at: upstreamDirectory) }
        // The province's broker keeps the central worker's session across its own restart.
        let upstream = try Broker(
            .init(extraConfiguration: [
                "persistence true", "persistence_location \(upstreamDirectory.path)/", "autosave_interval 1",
            ]))
        let directory = try Scratch.makeDirectory(prefix: "province-outage")
        defer { try? FileManager.default.removeItem(at: directory) }

        let central = try Province.central(
            directory: directory, name: "central", urls: [upstream.url], shards: ["s1"], postgres: pg.conninfo)
        #expect(Province.wait(20) { Province.text(central.log).contains("shard s1: subscribed to") })

        let port = try FreePort.pick()
        let configuration = """
            broker: {url: \(sensorBroker.url), client_id: gw-p1, reconnect: {initial: 100ms, max: 1s}}
            http: {listen: 127.0.0.1:\(port)}
            state_dir: state
            snapshot_interval: 1s
            lateness: 2s
            summaries: {path: summaries.jsonl, intervals: [1s, 1h]}
            alerts: {path: alerts.jsonl}
            rules:
              - {id: pm25-high, description: "PM2.5 above 60", severity: warning, match: {kind: pm25}, when: {above: 60, clear: 50}}
            parks: {p1: {area_m2: 1000}}
            uplink:
              broker: {url: \(upstream.url), reconnect: {initial: 100ms, max: 500ms}}
              shard: s1
              rate: 300
              batch_items: 25
            """
        var gateway = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(gateway.waitForLog("uplink connected"))
        // A new session gets nothing published before its subscription is granted: the first
        // readings were lost so once under make test's load (29 of 1 728 rollups short).
        #expect(gateway.waitForLog("subscribed to parks/"))
        let store = directory.appendingPathComponent("state/history.sqlite").path

        let publisher = try MQTTPublisher(
            configuration: .init(url: try BrokerURL(parsing: sensorBroker.url), clientID: "sensors", cleanSession: true)
        )
        try publisher.connect()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let dayStart = (now - 26 * 3_600_000) / Self.step * Self.step
        func publish(_ range: Range<Int>) throws {
            for k in range {
                for sensor in Self.sensors {
                    let payload = "{\"value\":\(Self.value(sensor, k)),\"ts\":\(dayStart + Int64(k) * Self.step)}"
                    try publisher.publish(
                        "parks/p1/z1/emissions/pm25/\(sensor)", payload: Array(payload.utf8), qos: .atLeastOnce)
                }
            }
            try publisher.flush()
        }
        func gatewaySum() throws -> Int {
            Int(try Province.sqlite(store, "SELECT coalesce(sum(count), 0) FROM rollups").first ?? "0") ?? 0
        }
        func centralSum() throws -> Int { try pg.number("SELECT coalesce(sum(count), 0) FROM rollups") }

        // 00:00–08:00 with the uplink up: everything arrives.
        try publish(0..<96)
        #expect(
            try Province.wait(30) { try centralSum() == 6 * 96 },
            "central \((try? centralSum()) ?? -1), gateway \((try? gatewaySum()) ?? -1) of \(6 * 96); late \(Province.metric(port, #"parkd_reading_outcomes_total{outcome="late"}"#) ?? -1); gateway log: \(gateway.log.split(separator: "\n").filter { $0.contains("error") || $0.contains("warning") }.suffix(20).joined(separator: "\n"))"
        )

        // 08:00–20:00 with the uplink down: the outbox fills.
        upstream.stop()
        try publish(96..<240)
        #expect(try Province.wait(30) { try gatewaySum() == 6 * 240 })
        #expect(
            Province.wait(10) { (Province.metric(port, "parkd_uplink_outbox_depth_items") ?? 0) >= 6 * 144 },
            "the outbox holds the outage's rollups")
        #expect(try centralSum() == 6 * 96, "nothing passed during the outage")

        // The uplink returns; parkd is killed while the outbox drains, then started again.
        try upstream.start()
        #expect(try Province.wait(30) { try centralSum() > 6 * 96 })
        gateway.process.signal(SIGKILL)
        _ = gateway.process.wait()
        let atKill = try centralSum()
        #expect(atKill < 6 * 240, "the kill came while the outbox was draining (\(atKill) readings had arrived)")
        gateway = try ParkdProcess(directory: directory, configuration: configuration)
        #expect(gateway.waitForLog("uplink connected"))

        // 20:00–24:00 after the restart.
        try publish(240..<288)
        #expect(try Province.wait(60) { try centralSum() == 6 * 288 && gatewaySum() == 6 * 288 })
        #expect(Province.wait(30) { Province.metric(port, "parkd_uplink_outbox_depth_items") == 0 })

        // Exactly the gateway's rollups, each once: 6 sensors × 288 five-minute intervals.
        let gatewayRows = try Province.gatewayRollups(store)
        let centralRows = try Province.centralRollups(pg)
        #expect(
            gatewayRows.count == 6 * 288,
            "gateway log: \(gateway.log.split(separator: "\n").filter { $0.contains("error") || $0.contains("warning") || $0.contains("history") }.suffix(30).joined(separator: "\n"))"
        )
        #expect(centralRows == gatewayRows)
        #expect(try pg.number("SELECT count(*) FROM (SELECT id FROM rollups GROUP BY id HAVING count(*) > 1) d") == 0)
        #expect(try Province.outOfOrder(pg) == "", "rows of a series arrived out of time order")
        // pm25-high fired at 05:00 and resolved at 07:00 for s1: two transitions, once each.
        #expect(try pg.number("SELECT count(*) FROM alerts") == 2)
        #expect(
            try pg.number("SELECT count(*) FROM alerts WHERE series = 'p1/z1/emissions/pm25/s1' AND state = 'firing'")
                == 1)
        let storedAlerts = Int(try Province.sqlite(store, "SELECT count(*) FROM alerts").first ?? "") ?? -1
        #expect(storedAlerts == 2)
        let storedSummaries = Int(try Province.sqlite(store, "SELECT count(*) FROM summaries").first ?? "") ?? -1
        #expect(try pg.number("SELECT count(*) FROM summaries") == storedSummaries)
        #expect(gateway.terminate() == 0)
        central.process.signal(SIGTERM)
        #expect(central.process.wait(timeout: 15) == 0)
        print(
            "province outage: \(atKill) of \(6 * 240) readings had arrived when parkd was killed; \(Province.text(central.log).components(separatedBy: "\n").last(where: { $0.contains("central worker stopped") }) ?? "")"
        )
    }
}
