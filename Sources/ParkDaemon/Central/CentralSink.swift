import Foundation
import MQTTClient

/// Writes uplink batches into the central database: each batch in one transaction, every
/// item upserted by its id, rows in the order the gateway sent them. A resend is skipped (an
/// identical row is not written again, and counts as a duplicate); a newer version of the
/// same item (a rollup the gateway rewrote, as its own store does) replaces the row in place.
final class CentralSink {
    struct Counts: Sendable {
        var batches = 0
        var inserted = 0
        var duplicates = 0
        var rejected = 0
    }

    /// A batch parkd refuses (not its format): acknowledged, counted and logged, never stored.
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    private struct Batch: Decodable {
        struct Item: Decodable {
            var seq: Int64
            var kind: String
            var id: String
            var at: Int64
        }
        var v: Int
        var gateway: String
        var items: [Item]
    }

    let db: PostgresConnection
    /// Partitions known to exist (created by this sink or found made).
    private var partitions = Set<CentralSchema.Partition>()
    private(set) var counts = Counts()

    init(db: PostgresConnection) {
        self.db = db
    }

    static let kinds = ["rollups", "compliance", "alerts", "summaries"]

    /// Checks a batch before anything is written: its shape, kinds, ids and times.
    static func check(_ payload: [UInt8], topicGateway: String?) throws(Refusal) -> (
        gateway: String, items: [(kind: String, at: Int64)]
    ) {
        let batch: Batch
        do {
            batch = try JSONDecoder().decode(Batch.self, from: Data(payload))
        } catch {
            throw Refusal(description: "not an uplink batch (\(error))")
        }
        guard batch.v == 1 else { throw Refusal(description: "batch format version \(batch.v); this parkd reads 1") }
        guard UplinkName.isValid(batch.gateway) else {
            throw Refusal(description: "gateway '\(batch.gateway.prefix(80))' is not [a-z0-9_-]")
        }
        if let topicGateway, topicGateway != batch.gateway {
            throw Refusal(description: "batch from gateway '\(batch.gateway)' on the topic of '\(topicGateway)'")
        }
        // Items between 2000 and 2100: a wrong clock upstream must not create a partition per year.
        let range: ClosedRange<Int64> = 946_684_800_000...4_102_444_800_000
        for item in batch.items {
            guard kinds.contains(item.kind) else {
                throw Refusal(description: "item kind '\(item.kind.prefix(40))' unknown")
            }
            guard !item.id.isEmpty, item.id.utf8.count <= 512 else {
                throw Refusal(description: "item id empty or too long")
            }
            guard range.contains(item.at) else {
                throw Refusal(description: "item \(item.id) has time \(item.at), outside 2000–2100")
            }
        }
        return (batch.gateway, batch.items.map { ($0.kind, $0.at) })
    }

    /// Stores one batch. Throws `Refusal` for a batch to drop, a connection failure to retry.
    func apply(_ payload: [UInt8], topicGateway: String?) throws {
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

    func noteRejected() { counts.rejected += 1 }

    /// `$1` the batch, `$2` its gateway. Items in the batch's order (`arrival` follows it).
    private static let source = """
        FROM jsonb_array_elements($1::jsonb->'items') WITH ORDINALITY AS t(e, n), LATERAL (SELECT e->'body' AS b) x
        """
    private static func series(_ b: String) -> String {
        "concat_ws('/', \(b)->>'park', \(b)->>'zone', \(b)->>'pillar', \(b)->>'kind', \(b)->>'sensor')"
    }
    private static let time = "to_timestamp((e->>'at')::bigint / 1000.0)"

    static let inserts = [
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

/// An uplink batch as the central side checks it before storing anything (for tools and
/// the fuzz target): the number of items, or why it is refused.
public enum UplinkBatch {
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    public static func validate(_ payload: [UInt8], gateway: String?) -> Result<Int, Refused> {
        do {
            return .success(try CentralSink.check(payload, topicGateway: gateway).items.count)
        } catch {
            return .failure(Refused(description: error.description))
        }
    }
}
