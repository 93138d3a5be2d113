import Foundation
import Testing

@testable import ParkConfig
@testable import ParkGateway

/// What a SIGHUP applies, worked out from the two configurations' sections.
@Suite("Reload plan")
struct ReloadPlanTests {
    static let base = """
        broker:
          url: mqtt://127.0.0.1:1883
          watchdog: 1h
        http: {listen: "127.0.0.1:9108"}
        """

    func parse(_ yaml: String) throws -> DaemonConfiguration {
        try DaemonConfiguration.parse(yaml, file: "/etc/parkd/parkd.yaml")
    }

    @Test("the same file changes nothing")
    func unchanged() throws {
        let c = try parse(Self.base)
        let plan = ReloadPlan(from: c, to: try parse(Self.base))
        #expect(!plan.reconnect && !plan.pipelineChanged && !plan.reopenAlerts && !plan.reopenSummaries)
        #expect(plan.atRestart.isEmpty)
    }

    @Test("a change of the watchdog alone reconnects, and /healthz takes the new traffic timeout")
    func watchdogOnly() throws {
        let old = try parse(Self.base)
        let fresh = try parse(Self.base.replacingOccurrences(of: "watchdog: 1h", with: "watchdog: 90s"))
        #expect(fresh.broker.watchdog == 90)
        let plan = ReloadPlan(from: old, to: fresh)
        #expect(plan.reconnect)
        #expect(plan.atRestart.isEmpty)
        #expect(Observability.Settings(fresh).trafficTimeout == 90)
        #expect(Observability.Settings(old).trafficTimeout == 3600)
    }

    @Test("a change of the reconnect backoff alone reconnects")
    func reconnectOnly() throws {
        let old = try parse(Self.base)
        let changed = try parse(
            Self.base.replacingOccurrences(
                of: "  watchdog: 1h", with: "  watchdog: 1h\n  reconnect: {initial: 2s, max: 60s}"))
        #expect(changed.broker.reconnectInitial == 2 && changed.broker.reconnectMaximum == 60)
        let plan = ReloadPlan(from: old, to: changed)
        #expect(plan.reconnect)
        #expect(plan.atRestart.isEmpty)
    }

    @Test("a new broker address reconnects, and the status page shows the new one")
    func brokerAddress() throws {
        let old = try parse(Self.base)
        let fresh = try parse(Self.base.replacingOccurrences(of: "127.0.0.1:1883", with: "127.0.0.2:1884"))
        #expect(ReloadPlan(from: old, to: fresh).reconnect)
        #expect(Observability.Settings(fresh).broker == "mqtt://127.0.0.2:1884")
    }

    @Test("what cannot change while running is named by its section")
    func atRestart() throws {
        let old = try parse(Self.base)
        let fresh = try parse(
            Self.base.replacingOccurrences(of: "9108", with: "9118") + "\nlateness: 10m\nsnapshot_interval: 5m\n")
        let plan = ReloadPlan(from: old, to: fresh)
        #expect(!plan.reconnect)
        #expect(plan.atRestart == ["http", "lateness", "snapshot_interval"])
    }

    @Test("rules and limits go to the pipeline; a new compliance file is reopened")
    func live() throws {
        let old = try parse(Self.base)
        let fresh = try parse(Self.base + "\nlimits: {max_series: 5000}\ncompliance: {path: c.jsonl}\n")
        let plan = ReloadPlan(from: old, to: fresh)
        #expect(plan.pipelineChanged)
        #expect(plan.reopenCompliance)
        #expect(plan.atRestart.isEmpty)
    }

    @Test("an edited inline rule is applied, not reported as waiting for a restart")
    func inlineRule() throws {
        let rule = "\nrules: [{id: high, match: {kind: pm25}, when: {above: 50}}]\n"
        let old = try parse(Self.base + rule)
        let fresh = try parse(Self.base + rule.replacingOccurrences(of: "50", with: "40"))
        let plan = ReloadPlan(from: old, to: fresh)
        #expect(plan.pipelineChanged)
        #expect(plan.atRestart.isEmpty)
    }

    @Test("an inline rule with a null or quoted value prints back to the same rule")
    func inlineRuleRoundTrip() throws {
        let rules =
            "\nrules:\n  - {id: \"a: b # c\", match: {park: ~, kind: pm25}, when: {above: 50},"
            + " description: \"PM2.5 \\\"high\\\"\\nat {sensor}\"}\n"
        let c = try parse(Self.base + rules)
        #expect(c.rules.first?.matcher.park == nil)
        let again = try parse(c.effectiveYAML)
        #expect(again.rules == c.rules)
        #expect(again == c)
    }
}
