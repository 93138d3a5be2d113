import Hummingbird
import ParkConfig
import Prometheus
import ServiceSupport
import Synchronization
import TelemetryCore
import UplinkWire

/// `parkd central`'s loopback HTTP endpoint: /metrics (Prometheus text) and /healthz.
public enum CentralEndpoint {
    public static func application(_ worker: CentralWorker, host: String, port: Int) -> some ApplicationProtocol {
        Application(router: router(worker), configuration: .init(address: .hostname(host, port: port)))
    }

    package static func router(_ worker: CentralWorker, metrics: CentralMetrics = CentralMetrics()) -> Router<
        BasicRequestContext
    > {
        let router = Router()
        router.add(middleware: NoSniff())
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.render(worker.status))))
        }
        router.get("/healthz") { _, _ in
            let status = worker.status
            let stalledAfter = worker.stalledAfter
            // A shard fails when its session or database is down, its subscription was refused,
            // or a batch has waited to be stored longer than `stalled_after`.
            let failing = status.filter {
                !$0.sessionConnected || !$0.databaseConnected || $0.subscriptionRefused
                    || $0.batchInHandSeconds > stalledAfter
            }
            let database = worker.databaseProblem
            let healthy = failing.isEmpty && database == nil
            var line = JSONLine()
            line.add("status", healthy ? "ok" : "degraded")
            if let database { line.add("database", LogSafe.text(database, limit: 300)) }
            line.addRaw(
                "shards",
                "["
                    + status.map { s in
                        var item = JSONLine()
                        item.add("shard", s.shard)
                        item.addRaw("session_connected", s.sessionConnected ? "true" : "false")
                        item.addRaw("database_connected", s.databaseConnected ? "true" : "false")
                        if s.subscriptionRefused { item.addRaw("subscription_refused", "true") }
                        item.add("batch_in_hand_seconds", s.batchInHandSeconds.rounded())
                        return item.finished()
                    }.joined(separator: ",") + "]")
            return Response(
                status: healthy ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: line.finished() + "\n")))
        }
        return router
    }
}

/// `parkd-central`'s figures per shard in a swift-prometheus registry, as the gateway's are:
/// counters advance by what the shards counted since the last scrape; a shard that moved
/// away leaves the exposition.
package final class CentralMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    private let last = Mutex<[String: CentralWorker.ShardStatus]>([:])

    package init() {}

    private typealias Figure<T> = (descriptor: MetricNameDescriptor, value: @Sendable (CentralWorker.ShardStatus) -> T)

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "parkd", subsystem: "central", metricName: metric, unitName: unit, helpText: help)
    }

    // Computed: swift-prometheus's descriptors are not Sendable, so they cannot be stored statics.
    private static var counters: [Figure<Int>] {
        [
            (name("batches", "total", "Uplink batches stored"), { $0.batches }),
            (name("items_stored", "total", "Items inserted or replaced by a newer version"), { $0.stored }),
            (name("duplicates", "total", "Items received again and skipped"), { $0.duplicates }),
            (
                name("batches_refused", "total", "Batches refused (not a batch, or data the database rejects)"),
                { $0.refused }
            ),
        ]
    }
    private static var gauges: [Figure<Bool>] {
        [
            (name("session", "connected", "1 when the shard's session is connected"), { $0.sessionConnected }),
            (name("database", "connected", "1 when the shard's database connection is up"), { $0.databaseConnected }),
        ]
    }

    private static var inHand: MetricNameDescriptor {
        name("batch_in_hand", "seconds", "How long the batch being retried has waited (0: none)")
    }

    package func render(_ status: [CentralWorker.ShardStatus]) -> String {
        let registry = registry
        last.withLock { last in
            let now = Dictionary(status.map { ($0.shard, $0) }, uniquingKeysWith: { a, _ in a })
            for (shard, _) in last where now[shard] == nil {
                registry.unregisterGauge(
                    registry.makeGauge(descriptor: Self.inHand, labels: [("shard", shard)]))
                for c in Self.counters {
                    registry.unregisterCounter(
                        registry.makeCounter(descriptor: c.descriptor, labels: [("shard", shard)]))
                }
                for g in Self.gauges {
                    registry.unregisterGauge(registry.makeGauge(descriptor: g.descriptor, labels: [("shard", shard)]))
                }
                for reason in UplinkBatch.Refusal.Reason.allCases.map(\.rawValue) {
                    registry.unregisterCounter(
                        registry.makeCounter(
                            descriptor: Self.name("refusals", "total", "Batches refused, by reason"),
                            labels: [("shard", shard), ("reason", reason)]))
                }
            }
            for s in status {
                // Refusals by reason: every reason is shown, at 0 until one happens.
                let refusals = Self.name("refusals", "total", "Batches refused, by reason")
                for reason in UplinkBatch.Refusal.Reason.allCases.map(\.rawValue) {
                    let counter = registry.makeCounter(
                        descriptor: refusals, labels: [("shard", s.shard), ("reason", reason)])
                    let before = last[s.shard]?.refusedBy[reason] ?? 0
                    let value = s.refusedBy[reason] ?? 0
                    let step = value >= before ? value - before : value
                    if step > 0 { counter.increment(by: Int64(step)) }
                }
                for c in Self.counters {
                    let counter = registry.makeCounter(descriptor: c.descriptor, labels: [("shard", s.shard)])
                    let before = last[s.shard].map(c.value) ?? 0
                    let value = c.value(s)
                    // A shard started again in this process counts from zero: all it counted is new.
                    let step = value >= before ? value - before : value
                    if step > 0 { counter.increment(by: Int64(step)) }
                }
                registry.makeGauge(descriptor: Self.inHand, labels: [("shard", s.shard)]).set(s.batchInHandSeconds)
                for g in Self.gauges {
                    registry.makeGauge(descriptor: g.descriptor, labels: [("shard", s.shard)]).set(
                        Int64(g.value(s) ? 1 : 0))
                }
            }
            last = now
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
