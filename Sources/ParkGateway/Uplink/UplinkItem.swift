import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// One item bound for the province: its kind, an id that names it for good (the central side
/// keys on it, so a resend or a replay is never counted twice), its time and a JSON body.
/// Ids come from what the item is (a series and interval, a rule and period, a line's hash),
/// not from the outbox's sequence: a lost or rebuilt outbox cannot reuse an id.
package struct UplinkItem: Sendable, Equatable {
    package var kind: UplinkItemKind
    package var id: String
    package var at: Int64
    package var body: String

    /// The items one history batch yields, in the order they are sent: rollups and compliance
    /// records as they closed (each series in time order), then alerts and summary lines.
    package static func items(
        from batch: HistoryBatch, gateway: String, kinds: Set<UplinkItemKind>
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
                        kind: .rollups, id: UplinkItemID.rollup(gateway: gateway, series: r.series, start: r.start),
                        at: r.start, body: line.finished()))
            }
        }
        if kinds.contains(.compliance) {
            for (record, text) in batch.compliance {
                let c = record.closed
                items.append(
                    UplinkItem(
                        kind: .compliance,
                        id: UplinkItemID.compliance(
                            gateway: gateway, rule: record.rule, series: record.series, period: c.period.rawValue,
                            start: c.start.milliseconds),
                        at: c.start.milliseconds, body: text))
            }
        }
        if kinds.contains(.alerts) {
            for (at, text) in batch.alerts {
                items.append(
                    UplinkItem(
                        kind: .alerts, id: UplinkItemID.alert(gateway: gateway, at: at, line: text), at: at, body: text)
                )
            }
        }
        if kinds.contains(.summaries) {
            for (period, from, text) in batch.summaries {
                items.append(
                    UplinkItem(
                        kind: .summaries, id: UplinkItemID.summary(gateway: gateway, period: period, from: from),
                        at: from, body: text))
            }
        }
        return items
    }
}
