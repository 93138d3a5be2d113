import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// The uplink and the central worker over TLS with credentials, against a real mosquitto
/// that requires both.
@Suite("Province: uplink and central over TLS with credentials")
struct ProvinceSecureTests {
    @Test("TLS (CA checked, hostname verified) and a username and password on both sides: the rollups arrive")
    func tlsAndCredentials() throws {
        let tls = try TLSMaterial.generate()
        let upstream = try Broker(.init(tls: tls, users: ["gateway": "gw-secret", "central": "central-secret"]))
        #expect(upstream.url.hasPrefix("mqtts://"))
        let pg = try PostgresServer()
        let sensors = try Broker()
        let directory = try Scratch.makeDirectory(prefix: "province-secure")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "gw-secret\n".write(to: directory.appendingPathComponent("uplink.pass"), atomically: true, encoding: .utf8)
        try "central-secret\n".write(
            to: directory.appendingPathComponent("central.pass"), atomically: true, encoding: .utf8)

        let centralConfig = directory.appendingPathComponent("central.yaml").path
        try """
        broker:
          url: \(upstream.url)
          client_id: central
          username: central
          password_file: central.pass
          tls: {ca_file: \(tls.caFile)}
        shards: [s1]
        postgres: "\(pg.conninfo)"
        http: off
        """.write(toFile: centralConfig, atomically: true, encoding: .utf8)
        let centralLog = directory.appendingPathComponent("central.log").path
        let central = try ChildProcess(
            try BuiltProduct.path("parkd-central"), ["--config", centralConfig], outputPath: centralLog)
        #expect(Province.wait(20) { Province.text(centralLog).contains("shard s1: subscribed to") })

        let gateway = try ParkdProcess(
            directory: directory,
            configuration: """
                broker: {url: \(sensors.url), client_id: gw-p1}
                http: off
                state_dir: state
                lateness: 1s
                summaries: {path: summaries.jsonl, intervals: [1s, 1h]}
                parks: {p1: {area_m2: 1000}}
                uplink:
                  broker:
                    url: \(upstream.url)
                    username: gateway
                    password_file: uplink.pass
                    tls: {ca_file: \(tls.caFile)}
                  shard: s1
                """)
        #expect(gateway.waitForLog("uplink connected"))
        #expect(gateway.waitForLog("subscribed to parks/"))
        let publisher = try MQTTPublisher(
            configuration: .init(url: try BrokerURL(parsing: sensors.url), clientID: "sensors", cleanSession: true))
        try publisher.connect()
        try Province.publishTwelveReadings(publisher)
        #expect(try Province.wait(30) { try pg.number("SELECT coalesce(sum(count), 0) FROM rollups") == 12 })
        #expect(try pg.number("SELECT count(*) FROM rollups WHERE gateway = 'p1'") == 12)
        #expect(!Province.text(gateway.logPath).contains("gw-secret"), "the password stays out of the log")
        #expect(gateway.terminate() == 0)
        central.signal(SIGTERM)
        #expect(central.wait(timeout: 15) == 0)
    }
}
