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
        /// Refused batches by reason (`UplinkBatch.Refusal.Reason`).
        package var refusedBy: [String: Int] = [:]
    }

    /// A batch parkd refuses (not its format): acknowledged, counted and logged, never stored.
    package typealias Refusal = UplinkBatch.Refusal

    package let db: PostgresConnection
    /// Partitions known to exist (created by this sink or found made).
    private var partitions = Set<CentralSchema.Partition>()
    private(set) var counts = Counts()

    /// The parks each gateway may report (the central configuration's `gateways:`).
    private let parks: @Sendable (String) -> Set<String>

    package init(db: PostgresConnection, parks: @escaping @Sendable (String) -> Set<String> = { [$0] }) {
        self.db = db
        self.parks = parks
    }

    /// Checks a batch before anything is written (`UplinkBatch.decode`): its shape, kinds,
    /// ids bound to the sending gateway, times, and (with `parks`) that every park it names is
    /// one of that gateway's.
    /// Items are kept ten years at the gateway (compliance records): older is not a real item.
    package static let maxItemAge: Int64 = 3_660 * 86_400_000
    package static let maxAhead: Int64 = 86_400_000
    /// A year's compliance record and the day's beside it: about 13 months apart at most.
    package static let maxSpan: Int64 = 400 * 86_400_000

    package static func check(
        _ payload: [UInt8], topicGateway: String?, parks: ((String) -> Set<String>)? = nil, now: Int64? = nil
    ) throws(Refusal) -> (gateway: String, items: [(kind: String, at: Int64)]) {
        let batch = try checked(payload, topicGateway: topicGateway, parks: parks, now: now)
        return (batch.gateway, batch.items.map { ($0.kind.rawValue, $0.at) })
    }

    /// The batch as checked, ready to store: what the database is given is this value
    /// encoded again, never the received bytes, so nothing the checks did not see (a key
    /// repeated in the JSON, of which the decoder reads the first copy and PostgreSQL the
    /// last) can reach a row. An id repeated in the batch keeps its last version, as the
    /// gateway's own store does (one upsert may not touch a row twice).
    package static func checked(
        _ payload: [UInt8], topicGateway: String?, parks: ((String) -> Set<String>)? = nil, now: Int64? = nil
    ) throws(Refusal) -> UplinkBatch {
        var batch = try UplinkBatch.decode(payload, topicGateway: topicGateway)
        var last: [String: Int] = [:]
        for (n, item) in batch.items.enumerated() { last[item.id] = n }
        if last.count < batch.items.count {
            batch.items = batch.items.enumerated().filter { last[$0.element.id] == $0.offset }.map(\.element)
        }
        // A gateway's clock gone wrong, or a forged batch, must not make partitions by the
        // hundred (one a month) in one transaction: times near now, and a bounded span.
        if let now, let first = batch.items.map(\.at).min(), let last = batch.items.map(\.at).max() {
            guard first >= now - Self.maxItemAge, last <= now + Self.maxAhead else {
                throw Refusal(
                    .badTime,
                    "items dated \(first)…\(last), outside \(Self.maxItemAge / 86_400_000) days back to a day ahead")
            }
            guard last - first <= Self.maxSpan else {
                throw Refusal(
                    .badTime,
                    "items span \((last - first) / 86_400_000) days in one batch; at most \(Self.maxSpan / 86_400_000)")
            }
        }
        if let parks {
            let allowed = parks(batch.gateway)
            for item in batch.items {
                for park in Self.parks(in: item) where !allowed.contains(park) {
                    throw Refusal(
                        .foreignPark,
                        "item \(item.id.prefix(200)) names park '\(park.prefix(80))', not one of gateway '\(batch.gateway)''s (\(allowed.sorted().joined(separator: ", ")))"
                    )
                }
            }
        }
        return batch
    }

    /// The parks an item names: its body's `park`, or each of a summary's `parks[].park`.
    /// An item that names none names the empty park, which no gateway has.
    private static func parks(in item: UplinkBatch.Item) -> [String] {
        if item.kind == .summaries {
            guard case .array(let entries)? = item.body["parks"] else { return [] }
            return entries.map { $0["park"]?.string ?? "" }
        }
        return [item.body["park"]?.string ?? ""]
    }

    /// Stores one batch. Throws `Refusal` for a batch to drop, a connection failure to retry.
    package func apply(_ payload: [UInt8], topicGateway: String?) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let batch = try Self.checked(payload, topicGateway: topicGateway, parks: parks, now: now)
        let (gateway, items) = (batch.gateway, batch.items.map { (kind: $0.kind.rawValue, at: $0.at) })
        let needed = Set(items.map { CentralSchema.Partition($0.kind, at: $0.at) }).subtracting(partitions)
        if !needed.isEmpty {
            try CentralSchema.create(needed, in: db)
            partitions.formUnion(needed)
        }
        let text = String(decoding: batch.encoded(), as: UTF8.self)
        let inserted = try db.transaction { () throws(PostgresConnection.Failure) -> Int in
            var inserted = 0
            for sql in Self.inserts { inserted += try db.execute(sql, [text, gateway]).affected }
            return inserted
        }
        counts.batches += 1
        counts.inserted += inserted
        counts.duplicates += items.count - inserted
    }

    /// Keeps a refused batch for a person to look at (`dead_letters`), best effort: with the
    /// database away it is only counted and logged. At most 1 MiB of it is kept.
    package func deadLetter(shard: String, topic: String, refusal: Refusal, sqlState: String?, payload: [UInt8]) {
        guard db.isConnected else { return }
        // Anyone who can publish on a shard's topic can send refusals: keep a sample of those,
        // and the whole batch (up to 1 MiB) only when the database refused its data.
        let kept = payload.prefix(refusal.reason == .database ? 1 << 20 : 64 << 10)
        let digits = Array("0123456789abcdef".utf8)
        var hexBytes: [UInt8] = [0x5C, 0x78]  // \x: bytea's hex input
        hexBytes.reserveCapacity(2 + 2 * kept.count)
        for byte in kept {
            hexBytes.append(digits[Int(byte >> 4)])
            hexBytes.append(digits[Int(byte & 15)])
        }
        let hex = String(decoding: hexBytes, as: UTF8.self)
        _ = try? db.execute(
            "INSERT INTO dead_letters(shard, topic, reason, detail, sqlstate, batch, truncated) VALUES ($1, $2, $3, $4, $5, $6::bytea, $7)",
            [
                shard, String(decoding: topic.utf8.prefix(1000), as: UTF8.self), refusal.reason.rawValue,
                String(refusal.description.prefix(2000)), sqlState, hex, kept.count < payload.count ? "true" : "false",
            ])
    }

    package func noteRejected(_ reason: Refusal.Reason) {
        counts.rejected += 1
        counts.refusedBy[reason.rawValue, default: 0] += 1
    }

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
        WHERE rollups.gateway = EXCLUDED.gateway AND (rollups.count, rollups.mean, rollups.min, rollups.max, rollups.last, rollups.leq, rollups.increase)
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
        WHERE compliance.gateway = EXCLUDED.gateway AND compliance.record IS DISTINCT FROM EXCLUDED.record
          AND (CASE WHEN jsonb_typeof(EXCLUDED.record->'revision') = 'number' THEN (EXCLUDED.record->>'revision')::numeric ELSE 0 END)
            >= (CASE WHEN jsonb_typeof(compliance.record->'revision') = 'number' THEN (compliance.record->>'revision')::numeric ELSE 0 END)
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
        WHERE summaries.gateway = EXCLUDED.gateway AND summaries.summary IS DISTINCT FROM EXCLUDED.summary
        """,
    ]
}
