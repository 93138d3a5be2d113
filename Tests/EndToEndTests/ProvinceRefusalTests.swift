import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// What the central worker does with what is not an uplink batch: it refuses it, counts and
/// logs it, acknowledges it (a poison message must not block its shard) and goes on.
@Suite("Province: the central worker refuses bad batches and goes on")
struct ProvinceRefusalTests {
    @Test("garbage, a wrong gateway, an absurd time and bad figures are refused; the next good batch is stored")
    func refusals() throws {
        let pg = try PostgresServer()
        let broker = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "province-refusal")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let central = try Province.central(
            directory: directory, name: "central", urls: [broker.url], shards: ["s1"], postgres: pg.conninfo,
            http: "{listen: 127.0.0.1:\(port)}")
        #expect(Province.wait(20) { Province.text(central.log).contains("session central-s1 connected") })
        let publisher = try MQTTPublisher(
            configuration: .init(url: try BrokerURL(parsing: broker.url), clientID: "gw", cleanSession: true))
        try publisher.connect()
        func item(_ id: String, at: Int64, body: String) -> String {
            #"{"seq":1,"kind":"rollups","id":"\#(id)","at":\#(at),"body":\#(body)}"#
        }
        let at: Int64 = 1_795_000_000_000
        let good = #"{"park":"p1","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a","count":3,"mean":2}"#
        let bad: [(String, String)] = [
            ("uplink/s1/p1", "not json at all"),
            ("uplink/s1/p1", #"{"v":1,"gateway":"p2","items":[]}"#),  // another gateway's batch on p1's topic
            ("uplink/s1/p1", #"{"v":1,"gateway":"p1","items":[\#(item("x", at: 42, body: good))]}"#),  // 1970
            (
                "uplink/s1/p1",
                #"{"v":1,"gateway":"p1","items":[\#(item("y", at: at, body: #"{"park":"p1","count":"many"}"#))]}"#
            ),
        ]
        for (topic, text) in bad { try publisher.publish(topic, payload: Array(text.utf8), qos: .atLeastOnce) }
        try publisher.publish(
            "uplink/s1/p1",
            payload: Array(#"{"v":1,"gateway":"p1","items":[\#(item("p1/r/ok", at: at, body: good))]}"#.utf8),
            qos: .atLeastOnce)
        try publisher.flush()
        #expect(try Province.wait(20) { try pg.number("SELECT count(*) FROM rollups") == 1 })
        #expect(try pg.number("SELECT count FROM rollups WHERE id = 'p1/r/ok'") == 3)
        let log = Province.text(central.log)
        #expect(log.contains("not an uplink batch"))
        #expect(log.contains("batch from gateway 'p2' on the topic of 'p1'"))
        #expect(log.contains("outside 2000–2100"))
        #expect(log.contains("the database refused a batch") && log.contains("22P02"), "\(log)")
        let metrics = try HTTPGet.get(port: port, path: "/metrics").body
        for line in [
            #"parkd_central_batches_total{shard="s1"} 1"#, #"parkd_central_items_stored_total{shard="s1"} 1"#,
            #"parkd_central_batches_refused_total{shard="s1"} 4"#, #"parkd_central_session_connected{shard="s1"} 1.0"#,
            #"parkd_central_database_connected{shard="s1"} 1.0"#,
        ] {
            #expect(metrics.contains(line + "\n"), "\(metrics)")
        }
        let health = try HTTPGet.get(port: port, path: "/healthz")
        #expect(health.status == 200 && health.body.contains(#""status":"ok""#))
        // The database goes away: /healthz says so once the shard notices.
        try pg.stop()
        try publisher.publish(
            "uplink/s1/p1",
            payload: Array(#"{"v":1,"gateway":"p1","items":[\#(item("p1/r/later", at: at, body: good))]}"#.utf8),
            qos: .atLeastOnce)
        try publisher.flush()
        #expect(Province.wait(20) { (try? HTTPGet.get(port: port, path: "/healthz").status) == 503 })
        // It comes back: the held batch is stored, nothing lost.
        try pg.start()
        #expect(Province.wait(30) { (try? pg.number("SELECT count(*) FROM rollups WHERE id = 'p1/r/later'")) == 1 })
        central.process.signal(SIGTERM)
        #expect(central.process.wait(timeout: 15) == 0)
        #expect(Province.text(central.log).contains("2 items stored, 0 duplicates skipped, 4 batches refused"))
    }
}
