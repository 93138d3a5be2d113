import Hummingbird
import ParkConfig
import TelemetryCore
import UplinkWire

/// `parkd central`'s loopback HTTP endpoint: /metrics (Prometheus text) and /healthz.
public enum CentralEndpoint {
    public static func application(_ worker: CentralWorker, host: String, port: Int) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics(worker.status))))
        }
        router.get("/healthz") { _, _ in
            let status = worker.status
            let failing = status.filter { !$0.sessionConnected || !$0.databaseConnected }
            var line = JSONLine()
            line.add("status", failing.isEmpty ? "ok" : "degraded")
            line.addRaw(
                "shards",
                "["
                    + status.map { s in
                        var item = JSONLine()
                        item.add("shard", s.shard)
                        item.addRaw("session_connected", s.sessionConnected ? "true" : "false")
                        item.addRaw("database_connected", s.databaseConnected ? "true" : "false")
                        return item.finished()
                    }.joined(separator: ",") + "]")
            return Response(
                status: failing.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: line.finished() + "\n")))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)))
    }

    package static func metrics(_ status: [CentralWorker.ShardStatus]) -> String {
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ value: (CentralWorker.ShardStatus) -> Int) {
            text += "# HELP parkd_central_\(name) \(help)\n# TYPE parkd_central_\(name) \(type)\n"
            for s in status { text += "parkd_central_\(name){shard=\"\(s.shard)\"} \(value(s))\n" }
        }
        family("batches_total", "counter", "Uplink batches stored") { $0.batches }
        family("items_stored_total", "counter", "Items inserted or replaced by a newer version") { $0.stored }
        family("duplicates_total", "counter", "Items received again and skipped") { $0.duplicates }
        family("batches_refused_total", "counter", "Batches refused (not a batch, or data the database rejects)") {
            $0.refused
        }
        family("session_connected", "gauge", "1 when the shard's session is connected") { $0.sessionConnected ? 1 : 0 }
        family("database_connected", "gauge", "1 when the shard's database connection is up") {
            $0.databaseConnected ? 1 : 0
        }
        return text
    }
}
