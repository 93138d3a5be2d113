import BrokerHarness
import Foundation
import MQTTClient
import Testing

/// Bridged mode as shipped: parkd's uplink publishes to the gateway's own mosquitto, under the
/// shipped ACL, and mosquitto's bridge carries `uplink/#` to the province. A publish the ACL
/// refuses is not a delivery: over MQTT 5 the refusal comes back as a reason code, and the
/// items stay in the outbox until the broker takes them.
@Suite("Uplink: bridged mode under the shipped ACL", .serialized)
struct UplinkRefusalTests {
    static var shippedACL: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/mosquitto/acl").path
    }

    /// A province broker, a gateway broker bridged into it under `acl`, parkd with its uplink
    /// on the gateway broker as user parkd, and a listener on the province side.
    struct Rig {
        let province: Broker
        let gateway: Broker
        let parkd: ParkdProcess
        let port: Int
        let arrived: Received
        let listener: MQTTClient
        let directory: URL
        let aclPath: String

        init(acl: String) throws {
            directory = try Scratch.makeDirectory(prefix: "uplink-acl")
            aclPath = directory.appendingPathComponent("acl").path
            try acl.write(toFile: aclPath, atomically: true, encoding: .utf8)
            province = try Broker()
            gateway = try Broker(
                .init(
                    users: ["parkd": "gw-pw", "p1": "sensor-pw"],
                    extraConfiguration: [
                        "acl_file \(aclPath)", "connection province", "address 127.0.0.1:\(province.port)",
                        "cleansession false", "clientid bridge-p1", "restart_timeout 1 2", "notifications false",
                        "topic uplink/# out 1",
                    ]))
            arrived = Received()
            let sink = arrived
            listener = try MQTTClient(
                configuration: .init(
                    url: try BrokerURL(parsing: province.url), clientID: "province-listener",
                    subscriptions: [.init("uplink/#")]),
                onMessage: { sink.add($0) })
            listener.start()
            try listener.waitUntilConnected(timeout: 10)
            try "gw-pw\n".write(
                to: directory.appendingPathComponent("parkd.pass"), atomically: true, encoding: .utf8)
            port = try FreePort.pick()
            parkd = try ParkdProcess(
                directory: directory,
                configuration: """
                    broker: {url: \(gateway.url), client_id: gw-p1, username: parkd, password_file: parkd.pass}
                    http: {listen: 127.0.0.1:\(port)}
                    state_dir: state
                    lateness: 1s
                    summaries: {path: summaries.jsonl, intervals: [1s, 1h]}
                    parks: {p1: {area_m2: 1000}}
                    uplink:
                      broker: {url: \(gateway.url), username: parkd, password_file: parkd.pass}
                      shard: s1
                      send: [rollups]
                    """)
            #expect(parkd.waitForLog("uplink connected"))
            #expect(parkd.waitForLog("subscribed to parks/"))
        }

        /// Twelve readings five minutes apart, an hour ago: twelve rollups once the hour closes.
        func sendReadings() throws {
            var configuration = MQTTClientConfiguration(
                url: try BrokerURL(parsing: gateway.url), clientID: "sensors", cleanSession: true)
            // The shipped ACL: a park's sensors write under their own park only.
            configuration.username = "p1"
            configuration.password = Secret("sensor-pw")
            let publisher = try MQTTPublisher(configuration: configuration)
            try publisher.connect()
            try Province.publishTwelveReadings(publisher)
        }

        /// Rollup items that reached the province side.
        var itemsArrived: Int {
            arrived.all.reduce(0) { total, message in
                total
                    + String(decoding: message.payload, as: UTF8.self).components(separatedBy: #""kind":"rollups""#)
                    .count - 1
            }
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    @Test("the shipped ACL lets the uplink write uplink/#: every rollup crosses the bridge, none refused")
    func shippedACL() throws {
        let rig = try Rig(acl: try String(contentsOfFile: Self.shippedACL, encoding: .utf8))
        defer { rig.remove() }
        try rig.sendReadings()
        #expect(Province.wait(30) { rig.itemsArrived == 12 }, "\(rig.itemsArrived) of 12 rollups arrived")
        #expect(Province.wait(10) { Province.metric(rig.port, "parkd_uplink_outbox_depth_items") == 0 })
        #expect(Province.metric(rig.port, "parkd_uplink_refused_batches_total") == 0)
        // The gateway's mosquitto speaks MQTT 5: the uplink uses it (NATS would make it 3.1.1).
        #expect(!rig.parkd.log.contains("does not speak MQTT 5"))
        #expect(rig.parkd.terminate() == 0)
    }

    /// Before MQTT 5, mosquitto acknowledged the refused publishes like any other and the
    /// sender deleted the items: 12 rollups lost without a word.
    @Test("an ACL without uplink/#: the batch is refused, counted and kept; once the ACL allows it, all 12 arrive")
    func refusedIsNotDelivered() throws {
        let shipped = try String(contentsOfFile: Self.shippedACL, encoding: .utf8)
        #expect(shipped.contains("topic write uplink/#\n"))
        let rig = try Rig(acl: shipped.replacingOccurrences(of: "topic write uplink/#\n", with: ""))
        defer { rig.remove() }
        try rig.sendReadings()
        #expect(Province.wait(30) { (Province.metric(rig.port, "parkd_uplink_refused_batches_total") ?? 0) >= 1 })
        #expect(rig.parkd.waitForLog("the broker refused the batch on uplink/s1/p1: Not authorized (reason code 135)"))
        #expect(Province.wait(5) { (Province.metric(rig.port, "parkd_uplink_outbox_depth_items") ?? 0) >= 12 })
        #expect(rig.itemsArrived == 0)
        // The operator mends the ACL; mosquitto reads it again on SIGHUP.
        try shipped.write(toFile: rig.aclPath, atomically: true, encoding: .utf8)
        rig.gateway.reload()
        #expect(Province.wait(40) { rig.itemsArrived == 12 }, "\(rig.itemsArrived) of 12 rollups arrived")
        #expect(Province.wait(10) { Province.metric(rig.port, "parkd_uplink_outbox_depth_items") == 0 })
        #expect(rig.parkd.terminate() == 0)
    }
}
