import Foundation

/// What Deploy/province/make-credentials.sh makes, made by it for one test: a CA, a node
/// certificate for localhost/127.0.0.1, and a user per gateway and per central worker bound
/// to their topics. The tests run the shipped script, so it cannot rot unnoticed.
public struct ProvinceCredentials: Sendable {
    public let directory: String
    public var caFile: String { directory + "/ca.crt" }
    public var usersFile: String { directory + "/users.conf" }
    public var nodeCertFile: String { directory + "/nodes/localhost.crt" }
    public var nodeKeyFile: String { directory + "/nodes/localhost.key" }
    public func gatewayPasswordFile(_ gateway: String) -> String { directory + "/gateways/\(gateway).pass" }
    public func workerPasswordFile(_ worker: String) -> String { directory + "/workers/\(worker).pass" }
    /// A central worker's lines under `broker:` in central.yaml: its user, password file and CA.
    public func centralBrokerLines(_ worker: String) -> String {
        "  username: \(worker)\n  password_file: \(workerPasswordFile(worker))\n  tls: {ca_file: \(caFile)}"
    }
    public func gatewayPassword(_ gateway: String) throws -> String { try Self.read(gatewayPasswordFile(gateway)) }
    public func workerPassword(_ worker: String) throws -> String { try Self.read(workerPasswordFile(worker)) }

    /// `gateways`: (shard, gateway); `workers`: (worker, its shards).
    public static func make(gateways: [(String, String)], workers: [(String, [String])]) throws -> ProvinceCredentials {
        let directory = try Scratch.makeDirectory(prefix: "province-credentials")
        var arguments = ["--out", directory.path, "--node", "localhost", "--ip", "127.0.0.1", "--days", "2"]
        for (shard, gateway) in gateways { arguments += ["--gateway", "\(shard)/\(gateway)"] }
        for (worker, shards) in workers { arguments += ["--worker", "\(worker):\(shards.joined(separator: ","))"] }
        _ = try Command.run(script, arguments)
        return ProvinceCredentials(directory: directory.path)
    }

    public static var deployFolder: URL {
        // The package root, from this file's place in it.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Deploy/province")
    }

    static var script: String { deployFolder.appendingPathComponent("make-credentials.sh").path }

    private static func read(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
