import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// The province tier for real: a 3-node NATS JetStream cluster (MQTT listener, replicated
/// streams), three parks each behind a gateway broker bridged into it, two central workers
/// with disjoint shards, PostgreSQL; every connection over TLS with a user of its own, on the
/// shipped node files. Under load the stream leader is killed, then a worker;
/// its shard moves to the other worker by configuration.
@Suite("Province: cluster, bridges and central workers", .serialized)
struct ProvinceClusterTests {
    struct Gateway {
        let park: String
        let shard: String
        let broker: Broker
        let parkd: ParkdProcess
        let directory: URL
        var store: String { directory.appendingPathComponent("state/history.sqlite").path }
    }

    static func scenario() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent("Simulators/scenarios/province.yaml").path
    }

    @Test(
        "kill the stream leader under load, then a worker (its shard moves by configuration): every reading and alert in PostgreSQL, once"
    )
    func clusterFailover() throws {
        // As shipped: TLS everywhere, a user per gateway and per worker (worker 2 stands by for s1).
        let credentials = try ProvinceCredentials.make(
            gateways: [("s1", "p1"), ("s1", "p2"), ("s2", "p3")],
            workers: [("central-1", ["s1"]), ("central-2", ["s1", "s2"])])
        let cluster = try NATSCluster(credentials: credentials)
        let worker = credentials.centralBrokerLines
        let pg = try PostgresServer()
        let directory = try Scratch.makeDirectory(prefix: "province-cluster")
        defer { try? FileManager.default.removeItem(at: directory) }
        let urls = cluster.urls
        let addresses = cluster.nodes.map { "127.0.0.1:\($0.mqttPort)" }.joined(separator: " ")

        let w1 = try Province.central(
            directory: directory, name: "central-1", urls: urls, shards: ["s1"], postgres: pg.conninfo,
            extra: worker("central-1"))
        let w2 = try Province.central(
            directory: directory, name: "central-2", urls: Array(urls.reversed()), shards: ["s2"],
            postgres: pg.conninfo, extra: worker("central-2"))
        #expect(Province.wait(30) { Province.text(w1.log).contains("shard s1: subscribed to") })
        #expect(Province.wait(30) { Province.text(w2.log).contains("shard s2: subscribed to") })

        var gateways: [Gateway] = []
        for (park, shard) in [("p1", "s1"), ("p2", "s1"), ("p3", "s2")] {
            // The gateway's broker bridges the uplink into the cluster: MQTT 3.1.1 without
            // mosquitto's private bridge flag (NATS refuses both), failing over across the nodes,
            // over TLS with the credentials make-credentials.sh wrote for this gateway's bridge.
            let credentialLines = try String(
                contentsOfFile: credentials.directory + "/gateways/\(park)-bridge.conf", encoding: .utf8
            ).split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
                $0.replacingOccurrences(of: "/etc/mosquitto/certs/province-ca.crt", with: credentials.caFile)
            }
            let broker = try Broker(
                .init(
                    extraConfiguration: [
                        "connection province-\(park)", "addresses \(addresses)", "round_robin false",
                        "try_private false", "bridge_protocol_version mqttv311", "cleansession false",
                        "clientid bridge-\(park)", "restart_timeout 1 2", "keepalive_interval 5",
                        "notifications false", "topic uplink/# out 1",
                    ] + credentialLines))
            let folder = directory.appendingPathComponent(park)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let configuration = """
                broker: {url: \(broker.url), client_id: gw-\(park), reconnect: {initial: 100ms, max: 1s}}
                http: off
                state_dir: state
                lateness: 2s
                summaries: {path: summaries.jsonl, intervals: [1s, 1h]}
                alerts: {path: alerts.jsonl}
                rules:
                  - {id: pm25-present, description: "PM2.5 reported", severity: info, match: {kind: pm25}, when: {above: 1, clear: 0.5}}
                parks: {\(park): {area_m2: 1000}}
                uplink:
                  broker: {url: \(broker.url), reconnect: {initial: 100ms, max: 500ms}}
                  shard: \(shard)
                """
            let parkd = try ParkdProcess(directory: folder, configuration: configuration)
            gateways.append(Gateway(park: park, shard: shard, broker: broker, parkd: parkd, directory: folder))
        }
        for gateway in gateways {
            #expect(gateway.parkd.waitForLog("uplink connected"))
            // Sensors publish at once: their session must be subscribed first.
            #expect(gateway.parkd.waitForLog("subscribed to parks/"))
        }

        // Load: each park's two simulated hours through its gateway, all at once.
        let scenario = try Self.scenario()
        let simulators = try gateways.map { gateway in
            try ChildProcess(
                try BuiltProduct.path("parksim"),
                [
                    "run", "--url", gateway.broker.url, "--client-id", "sim-\(gateway.park)", "--scenario", scenario,
                    "--park", gateway.park, "--start-ago", "3h", "--duration", "2h", "--rate", "400",
                ], outputPath: gateway.directory.appendingPathComponent("parksim.log").path)
        }
        // Under load, the stream leader goes.
        usleep(2_000_000)
        let leader = try #require(cluster.streamLeader(), "the MQTT stream has a leader")
        cluster.kill(leader)
        for simulator in simulators { #expect(simulator.wait(timeout: 60) == 0) }
        let sent = gateways.map { gateway -> Int in
            let log = Province.text(gateway.directory.appendingPathComponent("parksim.log").path)
            guard let range = log.range(of: "parksim run: sent ", options: .backwards),
                let count = Int(log[range.upperBound...].prefix { $0.isNumber })
            else { return -1 }
            return count
        }

        // Then a worker: killed, its shard moved to the other by configuration (SIGHUP).
        w1.process.signal(SIGKILL)
        _ = w1.process.wait()
        try Province.writeCentral(
            w2.configPath, urls: Array(urls.reversed()), shards: ["s1", "s2"], postgres: pg.conninfo,
            extra: worker("central-2"))
        w2.process.signal(SIGHUP)
        #expect(Province.wait(30) { Province.text(w2.log).contains("session central-s1 connected") })

        // Every reading each parksim sent is counted once in the rollups, and each gateway's
        // store matches the central rows exactly.
        for (index, gateway) in gateways.enumerated() {
            let arrived = Province.wait(60) {
                (try? pg.number("SELECT coalesce(sum(count), 0) FROM rollups WHERE gateway = '\(gateway.park)'"))
                    == sent[index]
            }
            #expect(arrived, "\(gateway.park): \(sent[index]) readings sent")
            #expect(try Province.centralRollups(pg, gateway: gateway.park) == Province.gatewayRollups(gateway.store))
            let alerts = Int(try Province.sqlite(gateway.store, "SELECT count(*) FROM alerts").first ?? "") ?? -1
            #expect(alerts == 4, "\(gateway.park): pm25-present fires once for each of its 4 sensors")
            #expect(try pg.number("SELECT count(*) FROM alerts WHERE gateway = '\(gateway.park)'") == alerts)
        }
        #expect(try pg.number("SELECT count(*) FROM (SELECT id FROM rollups GROUP BY id HAVING count(*) > 1) d") == 0)
        for gateway in gateways { #expect(gateway.parkd.terminate() == 0) }
        w2.process.signal(SIGTERM)
        #expect(w2.process.wait(timeout: 15) == 0)
        let stopped = Province.text(w2.log).components(separatedBy: "\n").last { $0.contains("central worker stopped") }
        print("province cluster: leader n\(leader + 1) killed under load; sent \(sent); \(stopped ?? "")")
    }
}
