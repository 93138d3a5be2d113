import Foundation

/// One uplink message: a gateway's items, oldest first. The gateway encodes it and the central
/// worker decodes it with this one type, so the contract lives in one place.
///
///     {"gateway":"gw-a","items":[{"at":…,"body":{…},"id":"gw-a/r/…","kind":"rollups","seq":7}],"v":1}
public struct UplinkBatch: Codable, Sendable, Equatable {
    /// The format version this build writes and reads.
    public static let version = 1

    public struct Item: Codable, Sendable, Equatable {
        /// The sender's outbox sequence: increasing within a gateway, for logs and ordering only.
        public var seq: Int64
        public var kind: UplinkItemKind
        /// What the item is, for good (`UplinkItemID`): the central side upserts on it.
        public var id: String
        /// The item's own time, milliseconds since 1970 (a rollup's start, a period's start…).
        public var at: Int64
        public var body: JSONBody

        public init(seq: Int64, kind: UplinkItemKind, id: String, at: Int64, body: JSONBody) {
            self.seq = seq
            self.kind = kind
            self.id = id
            self.at = at
            self.body = body
        }
    }

    public var v: Int
    public var gateway: String
    public var items: [Item]

    public init(gateway: String, items: [Item], version: Int = UplinkBatch.version) {
        self.v = version
        self.gateway = gateway
        self.items = items
    }

    /// Why a batch is refused: acknowledged, counted by `reason` and logged by the receiver,
    /// never stored.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public enum Reason: String, Sendable, CaseIterable {
            /// Not JSON, not this shape, or an unknown kind.
            case notABatch = "not_a_batch"
            case version
            /// The batch's gateway is not a topic-safe name, or not the topic's gateway.
            case wrongGateway = "wrong_gateway"
            /// The topic is not `<prefix>/<shard>/<gateway>` for a shard served here.
            case wrongTopic = "wrong_topic"
            /// An item id empty, too long, or naming another gateway.
            case foreignID = "foreign_id"
            /// An item's park is not one of the sending gateway's.
            case foreignPark = "foreign_park"
            case badTime = "bad_time"
            /// Too many items or bytes in one batch.
            case tooLarge = "too_large"
            /// The database refused the data (a value it cannot store).
            case database
        }
        public let reason: Reason
        public let description: String
        public init(_ reason: Reason, _ description: String) {
            self.reason = reason
            self.description = description
        }
    }

    /// The bytes on the wire: keys sorted, so the same batch is always the same bytes.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a plain value: encoding cannot fail.
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// Items are dated between 2000 and 2100: a wrong clock upstream must not create a
    /// partition per year on the central side.
    public static let timeRange: ClosedRange<Int64> = 946_684_800_000...4_102_444_800_000
    public static let maxIDBytes = 512
    /// A gateway sends at most `uplink.batch_items` (500 by default, 10 000 at most).
    public static let maxItems = 10_000
    /// A batch's bytes, checked before it is decoded.
    public static let maxBytes = 32 << 20

    /// Decodes and checks a batch: its shape, version, gateway name, the topic's gateway,
    /// each item's id and time. Nothing is stored before this passes.
    public static func decode(_ payload: [UInt8], topicGateway: String?) throws(Refusal) -> UplinkBatch {
        guard payload.count <= maxBytes else {
            throw Refusal(.tooLarge, "\(payload.count) bytes in one batch; at most \(maxBytes)")
        }
        let batch: UplinkBatch
        do {
            batch = try JSONDecoder().decode(UplinkBatch.self, from: Data(payload))
        } catch {
            throw Refusal(.notABatch, "not an uplink batch (\(String(describing: error).prefix(300)))")
        }
        try batch.check(topicGateway: topicGateway)
        return batch
    }

    public func check(topicGateway: String?) throws(Refusal) {
        guard v == Self.version else {
            throw Refusal(.version, "batch format version \(v); this build reads \(Self.version)")
        }
        guard UplinkName.isValid(gateway) else {
            throw Refusal(.wrongGateway, "gateway '\(gateway.prefix(80))' is not [a-z0-9_-]")
        }
        if let topicGateway, topicGateway != gateway {
            throw Refusal(.wrongGateway, "batch from gateway '\(gateway)' on the topic of '\(topicGateway.prefix(80))'")
        }
        guard items.count <= Self.maxItems else {
            throw Refusal(.tooLarge, "\(items.count) items in one batch; at most \(Self.maxItems)")
        }
        for item in items {
            guard !item.id.isEmpty, item.id.utf8.count <= Self.maxIDBytes else {
                throw Refusal(.foreignID, "item id empty or too long")
            }
            // Ids are bound to their sender: one gateway cannot name (and so replace) another's rows.
            guard UplinkItemID.gateway(of: item.id) == gateway[...] else {
                throw Refusal(
                    .foreignID, "item \(item.id.prefix(200)) is not one of gateway '\(gateway)''s (\(gateway)/…)")
            }
            guard Self.timeRange.contains(item.at) else {
                throw Refusal(.badTime, "item \(item.id.prefix(200)) has time \(item.at), outside 2000–2100")
            }
        }
    }

    /// The number of items in a valid batch, or why it is refused (for tools and the fuzz target).
    public static func validate(_ payload: [UInt8], gateway: String?) -> Result<Int, Refusal> {
        do throws(Refusal) {
            return .success(try decode(payload, topicGateway: gateway).items.count)
        } catch {
            return .failure(error)
        }
    }
}
