import Foundation
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkGateway

/// The uplink's wire contract (`UplinkWire`): what the gateway sends is what the central side
/// reads, checked against a batch written by hand (Fixtures/uplink-batch-v1.json, keys sorted,
/// produced without this code) and against random batches.
@Suite("Uplink wire format")
struct UplinkWireTests {
    static let golden: [UInt8] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/uplink-batch-v1.json")
        let bytes = Array(FileManager.default.contents(atPath: url.path) ?? Data())
        return bytes.last == 0x0A ? Array(bytes.dropLast()) : bytes
    }()

    @Test("the golden batch decodes to the values written in it, and encodes back to the same bytes")
    func golden() throws {
        let batch = try UplinkBatch.decode(Self.golden, topicGateway: "gw-a")
        #expect(batch.v == 1 && batch.gateway == "gw-a")
        #expect(batch.items.map(\.kind) == [.rollups, .compliance, .alerts, .summaries])
        #expect(batch.items.map(\.seq) == [1, 2, 3, 4])
        #expect(batch.items[0].id == "gw-a/r/p1/z1/emissions/pm25/aq-1/1767200400000")
        #expect(batch.items[0].at == 1_767_200_400_000)
        #expect(batch.items[0].body["count"] == .int(12))
        #expect(batch.items[0].body["max"] == .double(40.25))
        #expect(batch.items[1].body["valid"] == .bool(true))
        #expect(batch.items[1].body["limit"] == .int(50))
        #expect(batch.items[2].body["message"]?.string == "PM2.5 81.5 µg/m³ over 50")
        #expect(batch.items[3].body["rejected"] == .null)
        #expect(batch.encoded() == Self.golden)
    }

    @Test("the gateway's outbox writes the golden bytes from its stored rows (bodies as the history store keeps them)")
    func outboxWritesGolden() throws {
        let batch = try UplinkBatch.decode(Self.golden, topicGateway: nil)
        // Bodies stored in the outbox in the order JSONLine writes them, not sorted.
        let bodies = [
            #"{"park":"p1","zone":"z1","pillar":"emissions","kind":"pm25","sensor":"aq-1","start":1767200400000,"count":12,"mean":30.5,"min":21,"max":40.25,"last":31.5}"#,
            #"{"rule":"qcvn05-pm25-24h","park":"p1","zone":"z1","pillar":"emissions","kind":"pm25","sensor":"aq-1","period":"24h","value":30.5,"limit":50,"valid":true,"exceeded":false,"reference":"QCVN 05:2023/BTNMT"}"#,
            #"{"id":"a1","state":"firing","rule":"pm25-high","severity":"warning","park":"p1","zone":"z1","pillar":"emissions","kind":"pm25","sensor":"aq-1","value":81.5,"limit":50,"message":"PM2.5 81.5 µg/m³ over 50"}"#,
            #"{"period":"1h","from":"2026-01-01T00:00:00+07:00","parks":[{"park":"p1","pillar":"emissions","means":{"pm25":30.5}}],"rejected":null}"#,
        ]
        let entries = zip(batch.items, bodies).map { item, body in
            Outbox.Entry(seq: item.seq, kind: item.kind.rawValue, id: item.id, at: item.at, body: body, attempts: 0)
        }
        let message = Outbox.message(gateway: "gw-a", entries: entries)
        #expect(message.skipped.isEmpty)
        #expect(message.payload == Self.golden)
        // A row that no longer reads is left out and named; the rest still go.
        var broken = entries
        broken[1].body = "{not json"
        broken[2].kind = "weather"
        let partial = Outbox.message(gateway: "gw-a", entries: broken)
        #expect(partial.skipped == [entries[1].id, entries[2].id])
        #expect(try UplinkBatch.decode(partial.payload, topicGateway: "gw-a").items.map(\.seq) == [1, 4])
    }

    @Test("random batches survive encode then decode unchanged")
    func roundTrip() throws {
        var random = SplitMix(seed: 0x5eed)
        for _ in 0..<300 {
            let batch = UplinkBatch(
                gateway: random.name(), items: (0..<random.int(0...8)).map { n in random.item(seq: Int64(n)) })
            let decoded = try JSONDecoder().decode(UplinkBatch.self, from: Data(batch.encoded()))
            #expect(decoded == batch)
            #expect(decoded.encoded() == batch.encoded())
        }
    }

    @Test("a batch is refused, with a reason naming what is wrong, before anything is stored")
    func refusals() {
        func reason(_ text: String, topic: String? = "g") -> String? {
            if case .failure(let refusal) = UplinkBatch.validate(Array(text.utf8), gateway: topic) {
                return refusal.description
            }
            return nil
        }
        let item = #"{"seq":1,"kind":"rollups","id":"g/r/x","at":1767200400000,"body":{}}"#
        #expect(reason(#"{"v":1,"gateway":"g","items":[\#(item)]}"#) == nil)
        #expect(reason(#"{"v":2,"gateway":"g","items":[]}"#)?.contains("version 2") == true)
        #expect(reason(#"{"v":1,"gateway":"G A","items":[]}"#, topic: nil)?.contains("not [a-z0-9_-]") == true)
        #expect(reason(#"{"v":1,"gateway":"g","items":[]}"#, topic: "h")?.contains("on the topic of 'h'") == true)
        #expect(
            reason(#"{"v":1,"gateway":"g","items":[\#(item.replacingOccurrences(of: "rollups", with: "weather"))]}"#)?
                .hasPrefix("not an uplink batch") == true)
        #expect(
            reason(#"{"v":1,"gateway":"g","items":[\#(item.replacingOccurrences(of: "g/r/x", with: ""))]}"#)
                == "item id empty or too long")
        #expect(
            reason(#"{"v":1,"gateway":"g","items":[\#(item.replacingOccurrences(of: "1767200400000", with: "0"))]}"#)?
                .contains("outside 2000–2100") == true)
        #expect(reason("[]")?.hasPrefix("not an uplink batch") == true)
    }

    @Test("item ids: built from what an item is, and their first level names the gateway")
    func itemIDs() {
        let series = SeriesIDFixture.aq1
        #expect(UplinkItemID.rollup(gateway: "g", series: series, start: 5) == "g/r/p1/z1/emissions/pm25/aq-1/5")
        #expect(
            UplinkItemID.compliance(gateway: "g", rule: "r", series: series, period: "24h", start: 5)
                == "g/c/r/p1/z1/emissions/pm25/aq-1/24h/5")
        #expect(UplinkItemID.summary(gateway: "g", period: "1h", from: 5) == "g/s/1h/5")
        // FNV-1a 64 of the empty string is its offset basis; of "a" (0xaf63dc4c8601ec8c, from
        // the FNV reference tables).
        #expect(UplinkItemID.alert(gateway: "g", at: 5, line: "") == "g/a/5/cbf29ce484222325")
        #expect(UplinkItemID.hash("a") == "af63dc4c8601ec8c")
        #expect(UplinkItemID.gateway(of: "gw-b/c/x") == "gw-b")
        #expect(UplinkItemID.gateway(of: "/c/x") == nil)
        #expect(UplinkItemID.gateway(of: "nogateway") == nil)
    }
}

enum SeriesIDFixture {
    static let aq1 = SeriesID(park: "p1", zone: "z1", pillar: .emissions, kind: "pm25", sensor: "aq-1")
}

/// Random batches from the seeded generator the compliance tests use: the same on every run.
extension SplitMix {
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func name() -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789_-")
        return String((0..<int(1...12)).map { _ in letters[int(0...(letters.count - 1))] })
    }

    /// Any text: controls, quotes, backslashes, slashes, non-ASCII and astral scalars.
    mutating func text() -> String {
        let pool: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1f}", "é", "µ", "ồ", "\u{2028}", "😀",
        ]
        return String(String.UnicodeScalarView((0..<int(0...10)).map { _ in pool[int(0...(pool.count - 1))] }))
    }

    mutating func body(depth: Int = 0) -> JSONBody {
        switch int(0...(depth > 2 ? 4 : 6)) {
        case 0: return .null
        case 1: return .bool(next() & 1 == 1)
        case 2: return .int(Int64(bitPattern: next()))
        case 3:
            // Not integral: an integral double is written as an integer, which is the same JSON number.
            let value = Double(Int64(bitPattern: next()) >> 20) / 1024 + 0.5
            return .double(value)
        case 4: return .string(text())
        case 5: return .array((0..<int(0...4)).map { _ in body(depth: depth + 1) })
        default:
            var fields: [String: JSONBody] = [:]
            for _ in 0..<int(0...4) { fields[text()] = body(depth: depth + 1) }
            return .object(fields)
        }
    }

    mutating func item(seq: Int64) -> UplinkBatch.Item {
        UplinkBatch.Item(
            seq: seq, kind: UplinkItemKind.allCases[int(0...3)], id: name() + "/" + text(),
            at: Int64(int(946_684_800_000...4_102_444_800_000)), body: body())
    }
}
