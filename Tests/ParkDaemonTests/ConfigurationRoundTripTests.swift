import BrokerHarness
import Foundation
import Testing

@testable import ParkConfig

/// `parkd check-config` prints the effective configuration; read back, it must be the same
/// configuration, so a printer that drops or bends a setting fails here.
@Suite("Configuration round trip")
struct ConfigurationRoundTripTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test("a fully populated file: parse(print(x)) == x, and printing again gives the same text")
    func fullyPopulated() throws {
        let directory = try Scratch.makeDirectory(prefix: "roundtrip")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "s3cret\n".write(to: directory.appendingPathComponent("broker.pass"), atomically: true, encoding: .utf8)
        for name in ["ca.pem", "client.pem", "client.key"] {
            try "x\n".write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        // The fixture's rule packs are named relative to this folder, as a file beside them would.
        var text = try String(contentsOf: Self.fixtures.appendingPathComponent("full-config.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "../../../Deploy/", with: Self.fixtures.path + "/../../../Deploy/")
        let file = directory.appendingPathComponent("parkd.yaml").path
        let x = try DaemonConfiguration.parse(text, file: file)

        // Nothing in the fixture is at its default (else the round trip proves little for it).
        let defaults = try DaemonConfiguration.parse("broker: {url: mqtt://127.0.0.1}\n", file: file)
        #expect(x.broker != defaults.broker && x.payload != defaults.payload && x.topics != defaults.topics)
        #expect(x.windows != defaults.windows && x.latenessSeconds != defaults.latenessSeconds)
        #expect(x.validity != defaults.validity && x.catalog != defaults.catalog)
        #expect(x.summaries != defaults.summaries && x.alerts != defaults.alerts && x.history != defaults.history)
        #expect(x.listen != defaults.listen && x.stateDirectory != defaults.stateDirectory)
        #expect(x.snapshotInterval != defaults.snapshotInterval && x.uplink != nil)
        #expect(x.subscriptions != defaults.subscriptions && x.rules.count > 5 && x.expectedSensors.count == 2)
        #expect(x.parks["full"]?.wastewater != nil && x.meterRoles.count == 1 && x.tariffs.count == 1)
        #expect(x.limits != defaults.limits && x.logLevel == "debug")
        #expect(x.summaries.complianceTopic != nil && x.addedWindows.isEmpty == false)

        let printed = x.effectiveYAML
        #expect(!printed.contains("s3cret"))
        let y = try DaemonConfiguration.parse(printed, file: file)
        #expect(y == x)
        // Section by section, so a failure names the section.
        #expect(y.broker == x.broker)
        #expect(y.uplink == x.uplink)
        #expect(y.history == x.history)
        #expect(y.windows == x.windows && y.quantileWindows == x.quantileWindows && y.detailWindows == x.detailWindows)
        #expect(y.addedWindows == x.addedWindows)
        #expect(y.topics == x.topics && y.payload == x.payload && y.summaries == x.summaries && y.alerts == x.alerts)
        #expect(y.rules == x.rules && y.parks == x.parks && y.tariffs == x.tariffs && y.limits == x.limits)
        #expect(y.effectiveYAML == printed)
    }
}
