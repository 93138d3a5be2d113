import TelemetryCore

/// One item bound for the province: its kind, an id that names it for good (the central side
/// keys on it, so a resend or a replay is never counted twice), its time and a JSON body.
/// Ids come from what the item is (a series and interval, a rule and period, a line's hash),
/// not from the outbox's sequence: a lost or rebuilt outbox cannot reuse an id.
struct UplinkItem: Sendable, Equatable {
    var kind: DaemonConfiguration.Uplink.Kind
    var id: String
    var at: Int64
    var body: String

    /// The items one history batch yields, in the order they are sent: rollups and compliance
    /// records as they closed (each series in time order), then alerts and summary lines.
    static func items(
        from batch: HistoryBatch, gateway: String, kinds: Set<DaemonConfiguration.Uplink.Kind>
    ) -> [UplinkItem] {
        var items: [UplinkItem] = []
        if kinds.contains(.rollups) {
            // In the order they closed: a series' intervals close in time order.
            for r in batch.rollups {
                var line = JSONLine()
                line.add(series: r.series)
                line.add("start", Int(r.start))
                line.add(figures: r)
                items.append(
                    UplinkItem(
                        kind: .rollups, id: "\(gateway)/r/\(r.series)/\(r.start)", at: r.start, body: line.finished()))
            }
        }
        if kinds.contains(.compliance) {
            for (record, text) in batch.compliance {
                let c = record.closed
                items.append(
                    UplinkItem(
                        kind: .compliance,
                        id: "\(gateway)/c/\(record.rule)/\(record.series)/\(c.period.rawValue)/\(c.start.milliseconds)",
                        at: c.start.milliseconds, body: text))
            }
        }
        if kinds.contains(.alerts) {
            for (at, text) in batch.alerts {
                items.append(UplinkItem(kind: .alerts, id: "\(gateway)/a/\(at)/\(hash(text))", at: at, body: text))
            }
        }
        if kinds.contains(.summaries) {
            for (period, from, text) in batch.summaries {
                items.append(UplinkItem(kind: .summaries, id: "\(gateway)/s/\(period)/\(from)", at: from, body: text))
            }
        }
        return items
    }

    /// FNV-1a, 64 bits, in hex: stable across runs and builds (Swift's Hasher is seeded).
    static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// What the history writer does with a batch's uplink items: which to keep, and the outbox's bounds.
struct OutboxPolicy: Sendable {
    var gateway: String
    var kinds: Set<DaemonConfiguration.Uplink.Kind>
    var maxItems: Int
    var maxAgeMilliseconds: Int64
}
