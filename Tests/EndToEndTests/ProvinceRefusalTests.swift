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
        let f = try Fixture(prefix: "province-refusal", client: "gw")
        defer { f.remove() }
        let (pg, port, central, publisher) = (f.pg, f.port, f.central, f.publisher)
        func item(_ id: String, at: Int64, body: String) -> String {
            #"{"seq":1,"kind":"rollups","id":"\#(id)","at":\#(at),"body":\#(body)}"#
        }
        let at: Int64 = 1_795_000_000_000
        let good = #"{"park":"p1","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a","count":3,"mean":2}"#
        let bad: [(String, String)] = [
            ("uplink/s1/p1", "not json at all"),
            ("uplink/s1/p1", #"{"v":1,"gateway":"p2","items":[]}"#),  // another gateway's batch on p1's topic
            ("uplink/s1/p1", #"{"v":1,"gateway":"p1","items":[\#(item("p1/r/x", at: 42, body: good))]}"#),  // 1970
            (
                "uplink/s1/p1",
                #"{"v":1,"gateway":"p1","items":[\#(item("p1/r/y", at: at, body: #"{"park":"p1","count":"many"}"#))]}"#
            ),
            // Poison: a sensor name too long for the series index (SQLSTATE 54000, the same every
            // time), and items 500 days apart (a month's partition each, by the hundred).
            (
                "uplink/s1/p1",
                #"{"v":1,"gateway":"p1","items":[\#(item("p1/r/long", at: at, body: good.replacingOccurrences(of: #""sensor":"a""#, with: #""sensor":"\#(Self.incompressible(8000))""#)))]}"#
            ),
            (
                "uplink/s1/p1",
                #"{"v":1,"gateway":"p1","items":[\#(item("p1/r/new", at: at, body: good)),\#(item("p1/r/old", at: at - 500 * 86_400_000, body: good))]}"#
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
        #expect(log.contains("(database): the database refused it") && log.contains("22P02"), "\(log)")
        #expect(log.contains("SQLSTATE 54000"))
        #expect(log.contains("items span 500 days in one batch"))
        // Every refused batch is kept for a person to read, with its reason and SQLSTATE.
        #expect(try pg.number("SELECT count(*) FROM dead_letters") == 6)
        #expect(
            try pg.number("SELECT count(*) FROM dead_letters WHERE sqlstate = '54000' AND reason = 'database'") == 1)
        #expect(try pg.number("SELECT count(*) FROM rollups WHERE id IN ('p1/r/new', 'p1/r/old', 'p1/r/long')") == 0)
        let metrics = try HTTPGet.get(port: port, path: "/metrics").body
        for line in [
            #"parkd_central_batches_total{shard="s1"} 1"#, #"parkd_central_items_stored_total{shard="s1"} 1"#,
            #"parkd_central_batches_refused_total{shard="s1"} 6"#, #"parkd_central_session_connected{shard="s1"} 1.0"#,
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
        #expect(Province.text(central.log).contains("2 items stored, 0 duplicates skipped, 6 batches refused"))
    }

    /// Gateway A tries to change gateway B's regulatory records (issue 21): every way in is
    /// refused, counted by reason and acknowledged, and B's rows stay byte for byte the same.
    @Test("attacks: another gateway's ids, parks and topic, a wrong topic depth, 100 000 items; B's rows unchanged")
    func anotherGatewaysRecords() throws {
        let f = try Fixture(prefix: "province-attack", client: "attacker")
        defer { f.remove() }
        let (pg, port, central, publisher) = (f.pg, f.port, f.central, f.publisher)
        let at: Int64 = 1_795_000_000_000
        func rollup(_ id: String, park: String, count: Int) -> String {
            #"{"seq":1,"kind":"rollups","id":"\#(id)","at":\#(at),"body":{"park":"\#(park)","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a","count":\#(count),"mean":80}}"#
        }
        func record(_ id: String, park: String, exceeded: Bool) -> String {
            #"{"seq":2,"kind":"compliance","id":"\#(id)","at":\#(at),"body":{"park":"\#(park)","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a","rule":"pm25-24h","period":"24h","value":80,"limit":50,"valid":true,"exceeded":\#(exceeded)}}"#
        }
        func batch(_ gateway: String, _ items: [String]) -> [UInt8] {
            Array(#"{"v":1,"gateway":"\#(gateway)","items":[\#(items.joined(separator: ","))]}"#.utf8)
        }
        let bRecord = "gwb/c/pm25-24h/gwb/z/emissions/pm25/a/24h/\(at)"
        // Gateway B's own records: an exceeded day.
        try publisher.publish(
            "uplink/s1/gwb",
            payload: batch(
                "gwb", [rollup("gwb/r/1", park: "gwb", count: 4), record(bRecord, park: "gwb", exceeded: true)]),
            qos: .atLeastOnce)
        try publisher.flush()
        #expect(try Province.wait(20) { try pg.number("SELECT count(*) FROM compliance") == 1 })
        let rowsOfB = """
            SELECT id || ' ' || gateway || ' ' || park || ' ' || count || ' ' || mean FROM rollups WHERE id LIKE 'gwb/%'
            UNION ALL
            SELECT id || ' ' || gateway || ' ' || exceeded || ' ' || record::text FROM compliance WHERE id LIKE 'gwb/%'
            ORDER BY 1
            """
        let before = try pg.psql(rowsOfB)
        #expect(before.contains("gwb/r/1") && before.contains("true"))

        let huge = batch("gwa", (0..<100_000).map { rollup("gwa/r/\($0)", park: "gwa", count: 1) })
        let attacks: [(topic: String, payload: [UInt8], reason: String)] = [
            // A, on its own topic, names B's record: "not exceeded".
            ("uplink/s1/gwa", batch("gwa", [record(bRecord, park: "gwb", exceeded: false)]), "foreign_id"),
            // A's own ids, B's park.
            ("uplink/s1/gwa", batch("gwa", [rollup("gwa/r/1", park: "gwb", count: 1)]), "foreign_park"),
            // B's batch on a topic of another depth: the gateway level must not be skipped.
            ("uplink/s1/gwb/x", batch("gwb", [record(bRecord, park: "gwb", exceeded: false)]), "wrong_topic"),
            ("uplink/s1", batch("gwb", [record(bRecord, park: "gwb", exceeded: false)]), "wrong_topic"),
            // A's batch on B's topic.
            ("uplink/s1/gwb", batch("gwa", [rollup("gwa/r/2", park: "gwa", count: 1)]), "wrong_gateway"),
            // 100 000 items in one batch.
            ("uplink/s1/gwa", huge, "too_large"),
            // A key repeated: the checks read the first "items" (none), PostgreSQL would read
            // the last (B's record, "not exceeded") if it were handed the received bytes.
            (
                "uplink/s1/gwa",
                Array(
                    #"{"v":1,"gateway":"gwa","items":[],"items":[\#(record(bRecord, park: "gwb", exceeded: false))]}"#
                        .utf8), ""
            ),
        ]
        for attack in attacks { try publisher.publish(attack.topic, payload: attack.payload, qos: .atLeastOnce) }
        // The next good batch of A's is stored within seconds.
        try publisher.publish(
            "uplink/s1/gwa", payload: batch("gwa", [rollup("gwa/r/ok", park: "gwa", count: 9)]), qos: .atLeastOnce)
        try publisher.flush()
        #expect(try Province.wait(20) { try pg.number("SELECT count(*) FROM rollups WHERE id = 'gwa/r/ok'") == 1 })
        #expect(try pg.psql(rowsOfB) == before, "gateway B's rows changed")
        #expect(try pg.number("SELECT count(*) FROM rollups") == 2)
        let metrics = try HTTPGet.get(port: port, path: "/metrics").body
        var expected: [String: Int] = [:]
        for attack in attacks where !attack.reason.isEmpty { expected[attack.reason, default: 0] += 1 }
        for (reason, count) in expected {
            #expect(
                metrics.contains(#"parkd_central_refusals_total{shard="s1",reason="\#(reason)"} \#(count)"# + "\n"),
                "\(reason): \(metrics)")
        }
        #expect(metrics.contains(#"parkd_central_batches_refused_total{shard="s1"} 6"# + "\n"))
        let log = Province.text(central.log)
        #expect(log.contains("is not one of gateway 'gwa''s"))
        #expect(log.contains("names park 'gwb', not one of gateway 'gwa''s (gwa)"))
        central.process.signal(SIGTERM)
        #expect(central.process.wait(timeout: 15) == 0)
    }

    @Test(
        "SIGTERM during a database outage: the batch in hand stays unacknowledged, and after a restart it is stored once"
    )
    func stopDuringOutage() throws {
        // On the shipped cluster, as its users: the worker's unacknowledged batch must come back
        // from JetStream, not from a single broker's memory.
        let credentials = try ProvinceCredentials.make(gateways: [("s1", "p1")], workers: [("central-1", ["s1"])])
        let cluster = try NATSCluster(credentials: credentials)
        let pg = try PostgresServer()
        let directory = try Scratch.makeDirectory(prefix: "province-stop")
        defer { try? FileManager.default.removeItem(at: directory) }
        let extra = credentials.centralBrokerLines("central-1")
        var central = try Province.central(
            directory: directory, name: "central", urls: cluster.urls, shards: ["s1"], postgres: pg.conninfo,
            extra: extra)
        #expect(Province.wait(30) { Province.text(central.log).contains("shard s1: subscribed to") })
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: cluster.urls[1]), clientID: "gw", cleanSession: true)
        configuration.username = "gw-p1"
        configuration.password = Secret(try credentials.gatewayPassword("p1"))
        configuration.tls = .init(caFile: credentials.caFile)
        let publisher = try MQTTPublisher(configuration: configuration)
        try publisher.connect()
        let at: Int64 = 1_795_000_000_000
        func batch(_ id: String) -> [UInt8] {
            Array(
                #"{"v":1,"gateway":"p1","items":[{"seq":1,"kind":"rollups","id":"\#(id)","at":\#(at),"body":{"park":"p1","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a","count":3,"mean":2}}]}"#
                    .utf8)
        }
        try publisher.publish("uplink/s1/p1", payload: batch("p1/r/first"), qos: .atLeastOnce)
        try publisher.flush()
        #expect(try Province.wait(20) { try pg.number("SELECT count(*) FROM rollups") == 1 })
        try pg.stop()
        try publisher.publish("uplink/s1/p1", payload: batch("p1/r/held"), qos: .atLeastOnce)
        try publisher.flush()
        #expect(Province.wait(20) { Province.text(central.log).contains("retrying in") })
        central.process.signal(SIGTERM)
        #expect(central.process.wait(timeout: 20) == 0)
        #expect(Province.text(central.log).contains("stays unacknowledged"))
        try pg.start()
        central = try Province.central(
            directory: directory, name: "central-2", urls: cluster.urls, shards: ["s1"], postgres: pg.conninfo,
            extra: extra)
        #expect(try Province.wait(30) { try pg.number("SELECT count(*) FROM rollups WHERE id = 'p1/r/held'") == 1 })
        #expect(try pg.number("SELECT count(*) FROM rollups") == 2)
        central.process.signal(SIGTERM)
        #expect(central.process.wait(timeout: 15) == 0)
    }

    /// PostgreSQL, a broker, and parkd-central serving shard s1 with its endpoint; a publisher.
    @Test("a compliance record's revisions: the province keeps the highest, whatever order the batches arrive in")
    func revisions() throws {
        let f = try Fixture(prefix: "province-revision", client: "gw")
        defer { f.remove() }
        let (pg, publisher) = (f.pg, f.publisher)
        let at: Int64 = 1_795_000_000_000
        let id = "gwb/c/noise-day/gwb/z/emissions/noise/a/1h/\(at)"
        func batch(_ seq: Int, revision: Int?, value: Double) -> [UInt8] {
            let revisionField = revision.map { #","revision":\#($0)"# } ?? ""
            return Array(
                #"{"v":1,"gateway":"gwb","items":[{"seq":\#(seq),"kind":"compliance","id":"\#(id)","at":\#(at),"body":{"park":"gwb","zone":"z","pillar":"emissions","kind":"noise","sensor":"a","rule":"noise-day","period":"1h","value":\#(value),"limit":70,"valid":true,"exceeded":\#(value > 70)\#(revisionField)}}]}"#
                    .utf8)
        }
        // The first issue, its second revision, then the first revision again (a batch retried late).
        for (seq, revision, value) in [(1, nil, 50.0), (2, 2, 72.0), (3, 1, 56.0)] as [(Int, Int?, Double)] {
            try publisher.publish(
                "uplink/s1/gwb", payload: batch(seq, revision: revision, value: value), qos: .atLeastOnce)
        }
        // A marker after them, in a batch whose record carries a revision that is not a number
        // (it counts as 0, and does not fail the batch): once the marker is stored, the
        // batches before it were handled.
        try publisher.publish(
            "uplink/s1/gwb",
            payload: Array(
                #"{"v":1,"gateway":"gwb","items":[{"seq":4,"kind":"compliance","id":"\#(id)","at":\#(at),"body":{"park":"gwb","zone":"z","pillar":"emissions","kind":"noise","sensor":"a","rule":"noise-day","period":"1h","value":10,"limit":70,"valid":true,"exceeded":false,"revision":"x"}},{"seq":5,"kind":"rollups","id":"gwb/r/marker","at":\#(at),"body":{"park":"gwb","zone":"z","pillar":"emissions","kind":"noise","sensor":"a","count":1,"mean":1}}]}"#
                    .utf8), qos: .atLeastOnce)
        try publisher.flush()
        #expect(try Province.wait(20) { try pg.number("SELECT count(*) FROM rollups WHERE id = 'gwb/r/marker'") == 1 })
        // Before, the last batch won: revision 1 (56 dBA, within the limit) replaced revision 2.
        let row = try pg.psql("SELECT value || ' ' || exceeded || ' ' || (record->>'revision') FROM compliance")
        #expect(row.trimmingCharacters(in: .whitespacesAndNewlines) == "72 true 2", "\(row)")
    }

    struct Fixture {
        let pg: PostgresServer
        let broker: Province.SecureBroker
        let directory: URL
        let port: Int
        let central: (process: ChildProcess, configPath: String, log: String)
        let publisher: MQTTPublisher

        init(prefix: String, client: String) throws {
            pg = try PostgresServer()
            broker = try Province.SecureBroker(publisherUser: client)
            directory = try Scratch.makeDirectory(prefix: prefix)
            port = try FreePort.pick()
            central = try Province.central(
                directory: directory, name: "central", urls: [broker.url], shards: ["s1"], postgres: pg.conninfo,
                http: "{listen: 127.0.0.1:\(port)}", extra: try broker.centralExtra(directory))
            let log = central.log
            #expect(Province.wait(20) { Province.text(log).contains("shard s1: subscribed to") })
            publisher = try broker.publisher(clientID: client)
            try publisher.connect()
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// Text that does not compress (PostgreSQL would TOAST a repeated character down to a few bytes).
    static func incompressible(_ count: Int) -> String {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String(
            (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return letters[Int(state >> 58) % letters.count]
            })
    }
}

/// A TCP listener on loopback that accepts connections and never answers: a database behind
/// a dead link, as libpq meets it.
final class Blackhole {
    let port: Int
    private let fd: Int32

    init() throws {
        port = try FreePort.pick()
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = FreePort.loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // The kernel completes handshakes into the backlog; nobody ever reads or writes.
        guard bound == 0, listen(fd, 64) == 0 else { throw HarnessError("cannot listen on \(port)") }
    }

    deinit { close(fd) }
}

@Suite("Province: a database that never answers")
struct ProvinceBlackholeTests {
    @Test("parkd-central waits for it, /healthz answers at once and says so, SIGTERM stops it")
    func blackholedDatabase() throws {
        let hole = try Blackhole()
        let broker = try Province.SecureBroker(publisherUser: "gw")
        let directory = try Scratch.makeDirectory(prefix: "province-blackhole")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let central = try Province.central(
            directory: directory, name: "central", urls: [broker.url], shards: ["s1"],
            postgres: "host=127.0.0.1 port=\(hole.port) dbname=province user=parkd",
            http: "{listen: 127.0.0.1:\(port)}", extra: try broker.centralExtra(directory))
        // The log line comes before the listener is bound: wait for the port itself.
        #expect(Province.wait(15) { Province.text(central.log).contains("HTTP endpoint on") })
        #expect(Province.wait(15) { FreePort.accepts(port) })
        // The first attempt times out (connect_timeout, 5 s by default); /healthz answers meanwhile.
        let early = try HTTPGet.get(port: port, path: "/healthz")
        // Not reached yet is not healthy, from the first answer on.
        #expect(early.status == 503 && early.body.contains(#""database":"not reached yet""#), "\(early.body)")
        #expect(
            Province.wait(20) {
                guard let answer = try? HTTPGet.get(port: port, path: "/healthz") else { return false }
                return answer.status == 503 && answer.body.contains(#""database":"#)
            })
        #expect(Province.wait(20) { Province.text(central.log).contains("central database not reached") })
        #expect(central.process.isRunning)
        central.process.signal(SIGTERM)
        #expect(central.process.wait(timeout: 15) == 0)
        withExtendedLifetime(hole) {}
    }
}
