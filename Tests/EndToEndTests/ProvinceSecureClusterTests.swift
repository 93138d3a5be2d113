import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// The province tier as shipped: three NATS nodes on Deploy/province/nats-1.conf (TLS on
/// every listener, mutual TLS on routes), users made by make-credentials.sh, a central worker
/// over TLS with its own user, PostgreSQL. Gateway A attacks gateway B's regulatory records
/// every way it can; the broker stops what its permissions cover, the worker the rest.
@Suite("Province: the shipped secure cluster under attack", .serialized)
struct ProvinceSecureClusterTests {
    static let at: Int64 = 1_795_000_000_000

    static func rollup(_ id: String, park: String, count: Int, sensor: String = "a", at: Int64 = at) -> String {
        #"{"seq":1,"kind":"rollups","id":"\#(id)","at":\#(at),"body":{"park":"\#(park)","zone":"z","pillar":"emissions","kind":"pm25","sensor":"\#(sensor)","count":\#(count),"mean":80}}"#
    }

    static func record(_ id: String, park: String, exceeded: Bool) -> String {
        #"{"seq":2,"kind":"compliance","id":"\#(id)","at":\#(at),"body":{"park":"\#(park)","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a","rule":"pm25-24h","period":"24h","value":80,"limit":50,"valid":true,"exceeded":\#(exceeded)}}"#
    }

    static func batch(_ gateway: String, _ items: [String]) -> [UInt8] {
        Array(#"{"v":1,"gateway":"\#(gateway)","items":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    @Test(
        "no credentials, no TLS, a wrong password, A on B's topic, a wrong depth, a stolen session, B's ids and park, poison, 100 000 items: all refused, B's rows unchanged"
    )
    func attacks() throws {
        let credentials = try ProvinceCredentials.make(
            gateways: [("s1", "gwa"), ("s1", "gwb")], workers: [("central-1", ["s1"])])
        let cluster = try NATSCluster(credentials: credentials)
        let pg = try PostgresServer()
        let directory = try Scratch.makeDirectory(prefix: "province-secure-cluster")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try FreePort.pick()
        let central = try Province.central(
            directory: directory, name: "central", urls: cluster.urls, shards: ["s1"], postgres: pg.conninfo,
            http: "{listen: 127.0.0.1:\(port)}",
            extra: credentials.centralBrokerLines("central-1") + "\ngateways: {gwa: [gwa], gwb: [gwb]}")
        #expect(Province.wait(30) { Province.text(central.log).contains("shard s1: subscribed to") })

        let node = cluster.nodes[0]
        func publisher(_ user: String?, _ password: String?, id: String, tls: Bool = true) throws -> MQTTPublisher {
            var configuration = MQTTClientConfiguration(
                url: try BrokerURL(parsing: tls ? node.mqttURL : "mqtt://127.0.0.1:\(node.mqttPort)"), clientID: id,
                cleanSession: true)
            configuration.username = user
            configuration.password = password.map(Secret.init)
            if tls { configuration.tls = .init(caFile: credentials.caFile) }
            return try MQTTPublisher(configuration: configuration)
        }
        let a = try credentials.gatewayPassword("gwa")
        let b = try credentials.gatewayPassword("gwb")

        // Gateway B's own records: an exceeded day.
        let bRecord = "gwb/c/pm25-24h/gwb/z/emissions/pm25/a/24h/\(Self.at)"
        let gatewayB = try publisher("gw-gwb", b, id: "gwb")
        try gatewayB.connect()
        try gatewayB.publish(
            "uplink/s1/gwb",
            payload: Self.batch(
                "gwb",
                [Self.rollup("gwb/r/1", park: "gwb", count: 4), Self.record(bRecord, park: "gwb", exceeded: true)]),
            qos: .atLeastOnce)
        try gatewayB.flush()
        #expect(try Province.wait(30) { try pg.number("SELECT count(*) FROM compliance") == 1 })
        let rowsOfB = """
            SELECT id || ' ' || gateway || ' ' || park || ' ' || count || ' ' || mean || ' ' || arrival FROM rollups WHERE id LIKE 'gwb/%'
            UNION ALL
            SELECT id || ' ' || gateway || ' ' || exceeded || ' ' || record::text FROM compliance WHERE id LIKE 'gwb/%'
            ORDER BY 1
            """
        let before = try pg.psql(rowsOfB)
        #expect(before.contains("gwb/r/1") && before.contains("true"))

        // At the door: each connection is refused.
        for (name, user, password, tls) in [
            ("no credentials", nil, nil, true), ("a wrong password", "gw-gwb", a, true),
            ("B's password without TLS", "gw-gwb", b, false), ("no such user", "gw-gwc", a, true),
        ] as [(String, String?, String?, Bool)] {
            let intruder = try publisher(user, password, id: "intruder", tls: tls)
            #expect(throws: MQTTError.self, "\(name) was let in") { try intruder.connect(timeout: 10) }
        }

        // Inside, as gateway A: what the broker's permissions stop (the batch never arrives).
        let gatewayA = try publisher("gw-gwa", a, id: "gwa")
        try gatewayA.connect()
        let forged = Self.batch("gwb", [Self.record(bRecord, park: "gwb", exceeded: false)])
        for topic in ["uplink/s1/gwb", "uplink/s1/gwa/x", "uplink/s1", "uplink/s2/gwa"] {
            try gatewayA.publish(topic, payload: forged, qos: .atLeastOnce)
        }
        // A tries to read B's batches, then to take the worker's session and its queue.
        let spyEvents = SpyLog()
        let spy = try MQTTClient(
            configuration: {
                var c = MQTTClientConfiguration(
                    url: try BrokerURL(parsing: node.mqttURL), clientID: "central-s1", username: "gw-gwa",
                    password: Secret(a), tls: .init(caFile: credentials.caFile), cleanSession: false,
                    subscriptions: [.init("uplink/#")])
                c.reconnect = .init(initial: 5, maximum: 5)
                return c
            }(),
            onMessage: { spyEvents.message($0) }, onEvent: { spyEvents.event($0) })
        spy.start()
        // Its session comes back with the worker's subscription, which A's permissions refuse.
        #expect(spyEvents.wait { $0.contains { if case .connected = $0 { true } else { false } } })
        Thread.sleep(forTimeInterval: 1)
        spy.stop()
        // The worker, its session taken for a moment, comes back.
        #expect(Province.wait(30) { Province.metric(port, #"parkd_central_session_connected{shard="s1"}"#) == 1 })

        // What passes the broker (A's own topic) and the worker refuses.
        let attacks: [(payload: [UInt8], reason: String)] = [
            (Self.batch("gwa", [Self.record(bRecord, park: "gwb", exceeded: false)]), "foreign_id"),
            (Self.batch("gwa", [Self.rollup("gwa/r/1", park: "gwb", count: 1)]), "foreign_park"),
            // Poison: a sensor name too long for the series index (SQLSTATE 54000), and items
            // 500 days apart.
            (
                Self.batch(
                    "gwa",
                    [
                        Self.rollup(
                            "gwa/r/long", park: "gwa", count: 1, sensor: ProvinceRefusalTests.incompressible(8000))
                    ]
                ), "database"
            ),
            (
                Self.batch(
                    "gwa",
                    [
                        Self.rollup("gwa/r/new", park: "gwa", count: 1),
                        Self.rollup("gwa/r/old", park: "gwa", count: 1, at: Self.at - 500 * 86_400_000),
                    ]), "bad_time"
            ),
        ]
        for attack in attacks { try gatewayA.publish("uplink/s1/gwa", payload: attack.payload, qos: .atLeastOnce) }
        try gatewayA.flush()
        // 100 000 items (about 20 MB): past the cluster's 1 MB payload limit, the node cuts A off.
        let huge = Self.batch("gwa", (0..<100_000).map { Self.rollup("gwa/r/\($0)", park: "gwa", count: 1) })
        let flood = try publisher("gw-gwa", a, id: "gwa-flood")
        try flood.connect()
        #expect(throws: MQTTError.self) {
            try flood.publish("uplink/s1/gwa", payload: huge, qos: .atLeastOnce)
            try flood.flush(timeout: 10)
        }

        // The next good batch of A's is stored within seconds.
        let again = try publisher("gw-gwa", a, id: "gwa-2")
        try again.connect()
        try again.publish(
            "uplink/s1/gwa", payload: Self.batch("gwa", [Self.rollup("gwa/r/ok", park: "gwa", count: 9)]),
            qos: .atLeastOnce)
        try again.flush()
        #expect(try Province.wait(30) { try pg.number("SELECT count(*) FROM rollups WHERE id = 'gwa/r/ok'") == 1 })
        #expect(try pg.psql(rowsOfB) == before, "gateway B's rows changed")
        #expect(try pg.number("SELECT count(*) FROM rollups") == 2)
        #expect(try pg.number("SELECT count(*) FROM compliance") == 1)
        #expect(spyEvents.messages.isEmpty, "gateway A read \(spyEvents.messages.count) batches")

        // Counted where each was stopped: the worker by reason, the broker in its log.
        let metrics = try HTTPGet.get(port: port, path: "/metrics").body
        for reason in ["foreign_id", "foreign_park"] {
            #expect(
                metrics.contains(#"parkd_central_refusals_total{shard="s1",reason="\#(reason)"} 1"# + "\n"),
                "\(reason): \(metrics)")
        }
        #expect(metrics.contains(#"parkd_central_batches_refused_total{shard="s1"} 4"# + "\n"), "\(metrics)")
        #expect(try pg.number("SELECT count(*) FROM dead_letters") == 4)
        let logs = cluster.nodes.map { Province.text(cluster.directory.appendingPathComponent("\($0.name).log").path) }
            .joined()
        for (text, count) in [
            ("Publish Violation", 4), ("Subscription Violation", 1), ("authentication error", 3),
            ("maximum payload exceeded", 1),
        ] {
            let seen = logs.components(separatedBy: text).count - 1
            #expect(seen >= count, "the cluster logged '\(text)' \(seen) times, not \(count)")
        }

        // A worker whose user lacks its shard is told so, and says so: connected, yet unhealthy.
        let wrongPort = try FreePort.pick()
        let wrong = try Province.central(
            directory: directory, name: "central-wrong", urls: cluster.urls, shards: ["s9"], postgres: pg.conninfo,
            http: "{listen: 127.0.0.1:\(wrongPort)}",
            extra: credentials.centralBrokerLines("central-1"))
        #expect(Province.wait(30) { Province.text(wrong.log).contains("refused the subscription to uplink/s9/#") })
        let health = try HTTPGet.get(port: wrongPort, path: "/healthz")
        #expect(health.status == 503 && health.body.contains(#""subscription_refused":true"#), "\(health.body)")
        for process in [central.process, wrong.process] {
            process.signal(SIGTERM)
            #expect(process.wait(timeout: 15) == 0)
        }
    }
}

/// What a client saw: messages and events, waited on.
final class SpyLog: @unchecked Sendable {
    private let condition = NSCondition()
    private var seenMessages: [MQTTMessage] = []
    private var events: [MQTTClientEvent] = []

    func message(_ message: MQTTMessage) {
        condition.lock()
        seenMessages.append(message)
        condition.broadcast()
        condition.unlock()
    }

    func event(_ event: MQTTClientEvent) {
        condition.lock()
        events.append(event)
        condition.broadcast()
        condition.unlock()
    }

    var messages: [MQTTMessage] {
        condition.lock()
        defer { condition.unlock() }
        return seenMessages
    }

    func wait(timeout: Double = 20, _ condition: ([MQTTClientEvent]) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        self.condition.lock()
        defer { self.condition.unlock() }
        while !condition(events) {
            if !self.condition.wait(until: deadline) { return condition(events) }
        }
        return true
    }
}
