import BrokerHarness
import Foundation
import Testing

/// The central database's views for Grafana's PostgreSQL data source: an uplink batch goes in
/// through the real broker and parkd-central, and psql reads each view back in the shape a
/// time-series panel takes (`time`, `value`, `metric`).
@Suite("Grafana views on the central database", .serialized)
struct GrafanaViewsTests {
    @Test("each view gives time, value and metric rows of what the gateway sent")
    func views() throws {
        let f = try ProvinceRefusalTests.Fixture(prefix: "grafana-views", client: "gw")
        defer { f.remove() }
        let (pg, publisher) = (f.pg, f.publisher)
        let at: Int64 = 1_795_000_000_000  // 2026-11-18T09:46:40Z
        let series = #""park":"p1","zone":"z","pillar":"emissions","kind":"pm25","sensor":"a""#
        let items = [
            #"{"seq":1,"kind":"rollups","id":"p1/r/1","at":\#(at),"body":{\#(series),"count":5,"mean":41.5}}"#,
            #"{"seq":2,"kind":"rollups","id":"p1/r/2","at":\#(at + 300_000),"body":{\#(series),"count":5,"mean":43}}"#,
            #"{"seq":3,"kind":"compliance","id":"p1/c/1","at":\#(at),"body":{\#(series),"rule":"pm25-1h","period":"1h","value":54,"limit":50,"valid":true,"exceeded":true}}"#,
            #"{"seq":4,"kind":"alerts","id":"p1/a/1","at":\#(at),"body":{\#(series),"rule":"pm25-high","state":"firing"}}"#,
            #"{"seq":5,"kind":"summaries","id":"p1/s/1","at":\#(at),"body":{"period":"1h","parks":[{"park":"p1","pillar":"energy","energy_kwh":120.5,"peak_demand_15m_kw":88,"renewable_share":null},{"park":"p1","pillar":"green","green_coverage":0.12}]}}"#,
        ]
        try publisher.publish(
            "uplink/s1/p1", payload: Array(#"{"v":1,"gateway":"p1","items":[\#(items.joined(separator: ","))]}"#.utf8),
            qos: .atLeastOnce)
        try publisher.flush()
        #expect(try Province.wait(20) { try pg.number("SELECT count(*) FROM summaries") == 1 })
        func rows(_ sql: String) throws -> [String] {
            try pg.psql(sql).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }
        let epoch = "extract(epoch FROM time)::bigint"
        #expect(
            try rows("SELECT \(epoch) || ' ' || value || ' ' || metric FROM grafana_series_mean ORDER BY time")
                == ["1795000000 41.5 p1/z/emissions/pm25/a", "1795000300 43 p1/z/emissions/pm25/a"])
        #expect(
            try rows("SELECT \(epoch) || ' ' || value || ' ' || metric || ' ' || exceeded FROM grafana_compliance")
                == ["1795000000 54 pm25-1h p1/z/emissions/pm25/a 1h true"])
        #expect(
            try rows("SELECT value || ' ' || metric FROM grafana_compliance_limit")
                == ["50 pm25-1h p1/z/emissions/pm25/a 1h limit"])
        // A null renewable share is no point on the line; every number is one.
        #expect(
            try rows("SELECT value || ' ' || metric || ' ' || pillar FROM grafana_park_figures ORDER BY metric")
                == [
                    "120.5 p1 energy_kwh 1h energy", "0.12 p1 green_coverage 1h green",
                    "88 p1 peak_demand_15m_kw 1h energy",
                ])
        #expect(
            try rows("SELECT value || ' ' || metric || ' ' || state FROM grafana_alerts") == [
                "1 pm25-high p1/z/emissions/pm25/a firing"
            ])
        // The columns a Grafana time-series panel reads, by name and type.
        #expect(
            try rows(
                "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = 'grafana_series_mean' AND column_name IN ('time', 'value', 'metric') ORDER BY column_name"
            ) == ["metric text", "time timestamp with time zone", "value double precision"])
    }
}
