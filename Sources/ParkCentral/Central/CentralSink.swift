import Foundation
import MQTTClient
import ParkConfig
import TelemetryCore
import UplinkWire

/// Writes uplink batches into the central database: each batch in one transaction, every
/// item upserted by its id, rows in the order the gateway sent them. A resend is skipped (an
/// identical row is not written again, and counts as a duplicate); a newer version of the
/// same item (a rollup the gateway rewrote, as its own store does) replaces the row in place.
package final class CentralSink {
    package struct Counts: Sendable {
        package var batches = 0
        package var inserted = 0
        package var duplicates = 0
        package var rejected = 0
    }

    /// A batch parkd refuses (not its format): acknowledged, counted and logged, never stored.
    package typealias Refusal = UplinkBatch.Refusal

    package let db: PostgresConnection
    /// Partitions known to exist (created by this sink or found made).
    private var partitions = Set<CentralSchema.Partition>()
    private(set) var counts = Counts()

    package init(db: PostgresConnection) {
        self.db = db
    }

    /// Checks a batch before anything is written (`UplinkBatch.decode`): its shape, kinds,
    /// ids and times.
    package static func check(_ payload: [UInt8], topicGateway: String?) throws(Refusal) -> (
        gateway: String, items: [(kind: String, at: Int64)]
    ) {
        let batch = try UplinkBatch.decode(payload, topicGateway: topicGateway)
        return (batch.gateway, batch.items.map { ($0.kind.rawValue, $0.at) })
    }

    /// Stores one batch. Throws `Refusal` for a batch to drop, a connection failure to retry.
    package func apply(_ payload: [UInt8], topicGateway: String?) throws {
        let (gateway, items) = try Self.check(payload, topicGateway: topicGateway)
        let needed = Set(items.map { CentralSchema.Partition($0.kind, at: $0.at) }).subtracting(partitions)
        if !needed.isEmpty {
            try CentralSchema.create(needed, in: db)
            partitions.formUnion(needed)
        }
        let text = String(decoding: payload, as: UTF8.self)
        let inserted = try db.transaction { () throws(PostgresConnection.Failure) -> Int in
            var inserted = 0
            for sql in Self.inserts { inserted += try db.execute(sql, [text, gateway]).affected }
            return inserted
        }
        counts.batches += 1
        counts.inserted += inserted
        counts.duplicates += items.count - inserted
    }

    package func noteRejected() { counts.rejected += 1 }

    /// `$1` the batch, `$2` its gateway. Items in the batch's order (`arrival` follows it).
    private static let source = """
        FROM jsonb_array_elements($1::jsonb->'items') WITH ORDINALITY AS t(e, n), LATERAL (SELECT e->'body' AS b) x
        """
    private static func series(_ b: String) -> String {
        "concat_ws('/', \(b)->>'park', \(b)->>'zone', \(b)->>'pillar', \(b)->>'kind', \(b)->>'sensor')"
    }
    private static let time = "to_timestamp((e->>'at')::bigint / 1000.0)"

    package static let inserts = [
        """
        INSERT INTO rollups(id, at, gateway, park, series, count, mean, min, max, last, leq, increase)
        SELECT e->>'id', \(time), $2, b->>'park', \(series("b")), (b->>'count')::integer, (b->>'mean')::float8,
          (b->>'min')::float8, (b->>'max')::float8, (b->>'last')::float8, (b->>'leq')::float8, (b->>'increase')::float8
        \(source) WHERE e->>'kind' = 'rollups' ORDER BY n
        ON CONFLICT (id, at) DO UPDATE SET count = EXCLUDED.count, mean = EXCLUDED.mean, min = EXCLUDED.min,
          max = EXCLUDED.max, last = EXCLUDED.last, leq = EXCLUDED.leq, increase = EXCLUDED.increase
        WHERE (rollups.count, rollups.mean, rollups.min, rollups.max, rollups.last, rollups.leq, rollups.increase)
          IS DISTINCT FROM (EXCLUDED.count, EXCLUDED.mean, EXCLUDED.min, EXCLUDED.max, EXCLUDED.last, EXCLUDED.leq,
          EXCLUDED.increase)
        """,
        """
        INSERT INTO compliance(id, at, gateway, park, rule, series, period, value, limit_value, valid, exceeded, record)
        SELECT e->>'id', \(time), $2, b->>'park', b->>'rule', \(series("b")), b->>'period', (b->>'value')::float8,
          coalesce(b->>'limit', b->>'lower_limit')::float8, (b->>'valid')::boolean, (b->>'exceeded')::boolean, b
        \(source) WHERE e->>'kind' = 'compliance' ORDER BY n
        ON CONFLICT (id, at) DO UPDATE SET value = EXCLUDED.value, limit_value = EXCLUDED.limit_value,
          valid = EXCLUDED.valid, exceeded = EXCLUDED.exceeded, record = EXCLUDED.record
        WHERE compliance.record IS DISTINCT FROM EXCLUDED.record
        """,
        """
        INSERT INTO alerts(id, at, gateway, park, rule, series, state, alert)
        SELECT e->>'id', \(time), $2, b->>'park', b->>'rule', \(series("b")), b->>'state', b
        \(source) WHERE e->>'kind' = 'alerts' ORDER BY n
        ON CONFLICT (id, at) DO NOTHING
        """,
        """
        INSERT INTO summaries(id, at, gateway, period, summary)
        SELECT e->>'id', \(time), $2, b->>'period', b
        \(source) WHERE e->>'kind' = 'summaries' ORDER BY n
        ON CONFLICT (id, at) DO UPDATE SET summary = EXCLUDED.summary
        WHERE summaries.summary IS DISTINCT FROM EXCLUDED.summary
        """,
    ]
}
