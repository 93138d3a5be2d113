import BrokerHarness
import Foundation
import MQTTClient
import ParkCentral
import ParkConfig
import ParkGateway
import ParkIngest
import Testing

@Suite("Deploy files")
struct DeployTests {
    static let deploy: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Deploy")
    }()

    @Test("the systemd units are hardened and run what exists")
    func units() throws {
        let unit = try String(contentsOf: Self.deploy.appendingPathComponent("systemd/parkd.service"), encoding: .utf8)
        for line in [
            "User=parkd", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=parkd", "Restart=on-failure",
            "ExecStart=/usr/local/bin/parkd run --config /etc/parkd/parkd.yaml --no-stdout", "CapabilityBoundingSet=",
            // Ready only with the reload handler in place; after the clock is set; room for files.
            "Type=notify", "NotifyAccess=main", "LimitNOFILE=65536",
            "After=network-online.target mosquitto.service time-sync.target",
        ] {
            #expect(unit.contains(line + "\n"), "\(line)")
        }
        // The options in ExecStart exist: the built parkd accepts them.
        let output = try Scratch.makeDirectory(prefix: "unit").appendingPathComponent("help").path
        let help = try ChildProcess(try BuiltProduct.path("parkd"), ["run", "--help"], outputPath: output)
        #expect(help.wait() == 0)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(text.contains("--config") && text.contains("--no-stdout"))
        // systemd-analyze checks the units where it is installed (not in every container).
        if let analyze = try? Command.find("systemd-analyze") {
            for name in ["parkd.service", "parksim.service", "parkd-central.service"] {
                let path = Self.deploy.appendingPathComponent("systemd/\(name)").path
                let result = try? Command.run(analyze, ["verify", "--man=no", path])
                let complaints = (result ?? "").split(separator: "\n").filter {
                    !$0.contains("/usr/local/bin/") && !$0.contains("Failed to") && !$0.isEmpty
                }
                #expect(complaints.isEmpty, "\(complaints)")
            }
        }
    }

    @Test(
        "the province files with make-credentials.sh's output: a valid NATS node, a bridge mosquitto runs, central and uplink configurations that load"
    )
    func province() throws {
        let directory = try Scratch.makeDirectory(prefix: "deploy-province")
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = Self.deploy.appendingPathComponent("province")
        let script = folder.appendingPathComponent("make-credentials.sh").path
        let made = try Command.run(
            script,
            [
                "--out", directory.path, "--node", "nats-1.province.internal", "--gateway", "s1/bau-bang",
                "--worker", "central-1:s1,s2",
            ])
        #expect(made.contains("1 node certificates, 1 gateways, 1 workers"), "\(made)")
        // Private files are the owner's only.
        for file in ["ca.key", "nodes/nats-1.province.internal.key", "gateways/bau-bang.pass", "users.conf"] {
            let mode = try FileManager.default.attributesOfItem(atPath: directory.path + "/" + file)[.posixPermissions]
            #expect((mode as? Int) == 0o600, "\(file): \(String(describing: mode))")
        }
        #expect(throws: HarnessError.self) { try Command.run(script, ["--out", directory.path]) }
        #expect(throws: HarnessError.self) {
            try Command.run(script, ["--out", directory.path, "--node", "n", "--gateway", "S1/Gw"])
        }

        let node = try String(contentsOf: folder.appendingPathComponent("nats-1.conf"), encoding: .utf8)
        // Beyond loopback, every listener is TLS, and routes are mutual TLS; clients are users.
        #expect(node.components(separatedBy: "0.0.0.0").count - 1 == 2)
        #expect(node.contains("listen: 127.0.0.1:4222") && node.contains("verify: true"))
        #expect(node.contains("include ./users.conf") && !node.contains("no_auth_user"))
        let local =
            node
            .replacingOccurrences(of: "/var/lib/nats", with: directory.path + "/js")
            .replacingOccurrences(of: "/etc/nats/tls/nats-1", with: directory.path + "/nodes/nats-1")
            .replacingOccurrences(of: "/etc/nats/tls/ca.crt", with: directory.path + "/ca.crt")
        let nodePath = directory.appendingPathComponent("nats-1.conf").path
        try local.write(toFile: nodePath, atomically: true, encoding: .utf8)
        #expect(try Command.run(try NATSCluster.serverBinary(), ["-c", nodePath, "-t"]).contains("is valid"))
        #expect(node.contains("stream_replicas: 3"))

        // The bridge's lines, with the credentials the script made, start a real mosquitto (the
        // nodes are unreachable here: it keeps trying).
        let bridge = try String(contentsOf: folder.appendingPathComponent("gateway-bridge.conf"), encoding: .utf8)
        let credentials = try String(contentsOfFile: directory.path + "/gateways/bau-bang-bridge.conf", encoding: .utf8)
        #expect(credentials.contains("remote_username gw-bau-bang\nremote_password "))
        let unreachable = "127.0.0.1:\(try FreePort.pick())"
        let lines = bridge.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map {
            $0.hasPrefix("addresses")
                ? "addresses \(unreachable)"
                : $0.replacingOccurrences(of: "/etc/mosquitto/certs/province-ca.crt", with: directory.path + "/ca.crt")
        }
        #expect(lines.contains("try_private false") && lines.contains("bridge_protocol_version mqttv311"))
        #expect(lines.contains("bridge_insecure false") && lines.contains("remote_username gw-bau-bang"))
        let broker = try Broker(.init(extraConfiguration: lines))
        #expect(broker.isRunning)

        // central.yaml and the uplink find their password and CA beside them.
        for (from, to) in [
            ("workers/central-1.pass", "central-1.pass"), ("gateways/bau-bang.pass", "bau-bang.pass"),
            ("ca.crt", "province-ca.crt"),
        ] {
            try FileManager.default.copyItem(atPath: directory.path + "/" + from, toPath: directory.path + "/" + to)
        }
        for file in ["central.yaml", "gateway-uplink.yaml"] {
            try FileManager.default.copyItem(
                atPath: folder.appendingPathComponent(file).path, toPath: directory.path + "/" + file)
        }
        setenv("PARKD_CENTRAL_POSTGRES", "host=127.0.0.1 dbname=province", 1)
        let central = try CentralConfiguration.load(path: directory.path + "/central.yaml")
        #expect(central.shards == ["s1", "s2"] && central.broker.fallbackURLs.count == 2)
        #expect(central.broker.url.usesTLS && central.broker.username == "central-1" && central.broker.password != nil)
        #expect(central.gateways == ["bau-bang": ["bau-bang"]] && central.statementTimeout == 30)
        let uplink = try #require(try DaemonConfiguration.load(path: directory.path + "/gateway-uplink.yaml").uplink)
        #expect(uplink.topic == "uplink/s1/bau-bang" && uplink.broker.fallbackURLs.count == 2)
        #expect(uplink.broker.url.usesTLS && uplink.broker.username == "gw-bau-bang")

        let unit = try String(
            contentsOf: Self.deploy.appendingPathComponent("systemd/parkd-central.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/parkd-central --config /etc/parkd/central.yaml\n"))
        let output = directory.appendingPathComponent("help").path
        let help = try ChildProcess(try BuiltProduct.path("parkd-central"), ["--help"], outputPath: output)
        #expect(help.wait() == 0)
        #expect(try String(contentsOfFile: output, encoding: .utf8).contains("--migrate-only"))
    }

    @Test("the mosquitto gateway configuration starts a real broker")
    func mosquittoConfiguration() throws {
        // The gateway file names system paths; keep its listeners and limits, point the rest at a scratch folder.
        let directory = try Scratch.makeDirectory(prefix: "gateway")
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("mosquitto/gateway.conf"), encoding: .utf8)
        #expect(text.contains("message_size_limit 1048576\n"))
        let kept = text.split(separator: "\n").filter {
            $0.hasPrefix("max_") || $0.hasPrefix("per_listener") || $0.hasPrefix("tls_version")
                || $0.hasPrefix("message_size_limit")
        }.map(String.init)
        let broker = try Broker(
            .init(
                users: ["parkd": "pw", "bau-bang": "sensor-pw"],
                extraConfiguration: kept + ["acl_file \(Self.deploy.appendingPathComponent("mosquitto/acl").path)"]))
        #expect(broker.isRunning)

        // The ACL: parkd reads everything; a park's sensors publish only under their park.
        let received = Received()
        var readConfiguration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: broker.url), clientID: "parkd", subscriptions: [.init("#")])
        readConfiguration.username = "parkd"
        readConfiguration.password = Secret("pw")
        let reader = try MQTTClient(configuration: readConfiguration, onMessage: { received.add($0) })
        reader.start()
        try reader.waitUntilConnected(timeout: 10)
        Thread.sleep(forTimeInterval: 0.3)
        var sensorConfiguration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: broker.url), clientID: "bb-sensor")
        sensorConfiguration.username = "bau-bang"
        sensorConfiguration.password = Secret("sensor-pw")
        let sensor = try MQTTClient(configuration: sensorConfiguration)
        sensor.start()
        try sensor.waitUntilConnected(timeout: 10)
        try sensor.publish("parks/vsip-1/z/emissions/pm25/aq-1", text: "1", qos: .atLeastOnce)  // another park: dropped
        // Larger than the broker's message_size_limit (1 MiB): dropped before anyone gets it.
        try sensor.publish(
            "parks/bau-bang/z/emissions/pm25/aq-2", text: String(repeating: "9", count: 1_048_577),
            qos: .atLeastOnce)
        try sensor.publish("parks/bau-bang/z/emissions/pm25/aq-1", text: "2", qos: .atLeastOnce)
        try sensor.flush()
        #expect(received.wait(for: 1))
        Thread.sleep(forTimeInterval: 0.3)
        #expect(received.all.map(\.topic) == ["parks/bau-bang/z/emissions/pm25/aq-1"])
    }

    @Test(
        "the ACL as install.sh installs it is readable by mosquitto after it drops to its own user",
        .enabled(if: geteuid() == 0 && getpwnam("mosquitto") != nil))
    func aclAfterPrivilegeDrop() throws {
        // The ACL line of install.sh, with its mode, owner and group.
        let script = try String(contentsOf: Self.deploy.appendingPathComponent("install.sh"), encoding: .utf8)
        let line = try #require(
            script.split(separator: "\n").first { $0.contains("Deploy/mosquitto/acl /etc/mosquitto/acl") })
        let words = line.split(separator: " ").map(String.init)
        let start = try #require(words.firstIndex(of: "install"))
        let options = Array(words[(start + 1)...].prefix { $0 != "Deploy/mosquitto/acl" })
        let directory = try Scratch.makeDirectory(prefix: "acl")
        defer { try? FileManager.default.removeItem(at: directory) }
        let acl = directory.appendingPathComponent("acl").path
        _ = try Command.run(
            Command.find("install"), options + [Self.deploy.appendingPathComponent("mosquitto/acl").path, acl])
        let port = try FreePort.pick()
        let configuration = directory.appendingPathComponent("mosquitto.conf").path
        try "listener \(port) 127.0.0.1\nallow_anonymous true\nacl_file \(acl)\nuser mosquitto\n".write(
            toFile: configuration, atomically: true, encoding: .utf8)
        let broker = try ChildProcess(
            try Command.find("mosquitto"), ["-c", configuration],
            outputPath: directory.appendingPathComponent("mosquitto.log").path)
        defer {
            broker.signal(SIGTERM)
            _ = broker.wait(timeout: 10)
        }
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline, broker.isRunning, !FreePort.accepts(port) { usleep(20_000) }
        let log =
            (try? String(contentsOfFile: directory.appendingPathComponent("mosquitto.log").path, encoding: .utf8)) ?? ""
        #expect(broker.isRunning && FreePort.accepts(port), "\(log)")
    }
}
