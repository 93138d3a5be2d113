import BrokerHarness
import Foundation
import MQTTClient

/// Pieces the province tests share: a central worker, a gateway's store, metrics, waiting.
enum Province {
    /// `parkd-central` with its configuration written into `directory`.
    static func central(
        directory: URL, name: String, urls: [String], shards: [String], postgres: String, http: String = "off",
        extra: String = ""
    ) throws -> (process: ChildProcess, configPath: String, log: String) {
        let configPath = directory.appendingPathComponent("\(name).yaml").path
        try writeCentral(configPath, urls: urls, shards: shards, postgres: postgres, http: http, extra: extra)
        let log = directory.appendingPathComponent("\(name).log").path
        let process = try ChildProcess(
            try BuiltProduct.path("parkd-central"), ["--config", configPath], outputPath: log)
        return (process, configPath, log)
    }

    /// `extra`: more lines for the file; those indented by two spaces go under `broker:`
    /// (credentials, TLS).
    static func writeCentral(
        _ path: String, urls: [String], shards: [String], postgres: String, http: String = "off", extra: String = ""
    ) throws {
        let brokerExtra = extra.split(separator: "\n").filter { $0.hasPrefix("  ") }.map { $0 + "\n" }.joined()
        let topExtra = extra.split(separator: "\n").filter { !$0.hasPrefix("  ") }.map { $0 + "\n" }.joined()
        let text = """
            broker:
              urls: [\(urls.joined(separator: ", "))]
              client_id: central
              reconnect: {initial: 100ms, max: 1s}
            \(brokerExtra)shards: [\(shards.joined(separator: ", "))]
            postgres: "\(postgres)"
            http: \(http)

            """
        try (text + topExtra).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Rows of a gateway's history store, through the sqlite3 shell (`|` between columns).
    static func sqlite(_ path: String, _ sql: String) throws -> [String] {
        try Command.run(try Command.find("sqlite3"), ["-readonly", path, sql])
            .split(separator: "\n").map(String.init)
    }

    /// Each rollup as `series|start_ms|count`, sorted: the gateway's own record.
    static func gatewayRollups(_ path: String) throws -> [String] {
        try sqlite(
            path,
            "SELECT s.park||'/'||s.zone||'/'||s.pillar||'/'||s.kind||'/'||s.sensor, r.start_ms, r.count FROM rollups r JOIN series s ON s.id = r.series ORDER BY 1, 2"
        )
    }

    /// The same from the central database.
    static func centralRollups(_ pg: PostgresServer, gateway: String? = nil) throws -> [String] {
        let filter = gateway.map { " WHERE gateway = '\($0)'" } ?? ""
        return try pg.psql(
            "SELECT series, (extract(epoch FROM at) * 1000)::bigint, count FROM rollups\(filter) ORDER BY 1, 2"
        ).split(separator: "\n").map(String.init)
    }

    /// A series whose rows arrived out of time order (none expected).
    static func outOfOrder(_ pg: PostgresServer) throws -> String {
        try pg.psql(
            """
            SELECT series, at, previous FROM (SELECT series, at, lag(at) OVER (PARTITION BY series ORDER BY arrival)
              AS previous FROM rollups) x WHERE previous >= at LIMIT 5
            """
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One figure from parkd's /metrics (nil when it is not there: a renamed metric fails).
    static func metric(_ port: Int, _ name: String) -> Double? {
        guard let answer = try? HTTPGet.get(port: port, path: "/metrics"), answer.status == 200 else { return nil }
        for line in answer.body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    /// A mosquitto with TLS and users, standing in for the cluster where its clustering is not
    /// under test: user `central` for the worker, and one more for the test's publisher (no
    /// ACL: the worker's own checks are what is tested behind it).
    struct SecureBroker {
        let broker: Broker
        let tls: TLSMaterial
        let publisherUser: String

        init(publisherUser: String) throws {
            tls = try TLSMaterial.generate()
            self.publisherUser = publisherUser
            broker = try Broker(.init(tls: tls, users: ["central": "central-pw", publisherUser: "publisher-pw"]))
        }

        var url: String { broker.url }

        /// The worker's broker lines, its password file written into `directory`.
        func centralExtra(_ directory: URL) throws -> String {
            let file = directory.appendingPathComponent("central.pass").path
            try "central-pw\n".write(toFile: file, atomically: true, encoding: .utf8)
            return "  username: central\n  password_file: \(file)\n  tls: {ca_file: \(tls.caFile)}"
        }

        func publisher(clientID: String) throws -> MQTTPublisher {
            var configuration = MQTTClientConfiguration(
                url: try BrokerURL(parsing: broker.url), clientID: clientID, cleanSession: true)
            configuration.username = publisherUser
            configuration.password = Secret("publisher-pw")
            configuration.tls = .init(caFile: tls.caFile)
            return try MQTTPublisher(configuration: configuration)
        }
    }

    /// Twelve PM2.5 readings of p1's aq-1, five minutes apart, an hour ago: twelve rollups of
    /// one reading each once the hour closes.
    static func publishTwelveReadings(_ publisher: MQTTPublisher) throws {
        let start = (Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000) / 300_000 * 300_000
        for k in 0..<12 {
            try publisher.publish(
                "parks/p1/z1/emissions/pm25/aq-1",
                payload: Array(#"{"value": 20, "ts": \#(start + Int64(k) * 300_000)}"#.utf8), qos: .atLeastOnce)
        }
        try publisher.flush()
    }

    /// Polls `condition` every 50 ms until it holds; false on timeout.
    static func wait(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
