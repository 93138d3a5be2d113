import Testing

@testable import TelemetryCore

@Suite("Topic patterns")
struct TopicPatternTests {
    @Test("the default pattern names all five parts")
    func defaultPattern() throws {
        let pattern = try TopicPattern(TopicPattern.defaultPattern)
        let id = pattern.match("parks/bau-bang/zone-a/emissions/pm25/aq-017")
        #expect(id == SeriesID(park: "bau-bang", zone: "zone-a", pillar: .emissions, kind: "pm25", sensor: "aq-017"))
    }

    @Test(
        "topics that do not fit give no series",
        arguments: [
            "parks/bau-bang/zone-a/emissions/pm25",  // too short
            "parks/bau-bang/zone-a/emissions/pm25/aq-017/extra",  // too long
            "parks/bau-bang/zone-a/water/pm25/aq-017",  // not a pillar
            "plants/bau-bang/zone-a/energy/power/m1",  // wrong literal
            "parks/bau-bang//energy/power/m1",  // empty level
            "",
        ])
    func mismatches(topic: String) throws {
        #expect(try TopicPattern(TopicPattern.defaultPattern).match(topic) == nil)
    }

    @Test("ChirpStack and The Things Stack topics map with fixed values")
    func lorawan() throws {
        let chirpstack = try TopicPattern(
            "application/+/device/{sensor}/event/up",
            fixed: ["park": "vsip-1", "zone": "lora", "pillar": "green", "kind": "soil_moisture"])
        #expect(
            chirpstack.match("application/7/device/0018b20000000abc/event/up")
                == SeriesID(
                    park: "vsip-1", zone: "lora", pillar: .green, kind: "soil_moisture", sensor: "0018b20000000abc"))
        #expect(chirpstack.match("application/7/device/x/event/down") == nil)

        let tts = try TopicPattern(
            "v3/+/devices/{sensor}/up", fixed: ["park": "p", "zone": "z", "pillar": "energy", "kind": "power"])
        #expect(tts.match("v3/app@tenant/devices/meter-9/up")?.sensor == "meter-9")
    }

    @Test("# takes the rest of the topic")
    func multiLevel() throws {
        let homie = try TopicPattern(
            "homie/{sensor}/#", fixed: ["park": "p", "zone": "z", "pillar": "green", "kind": "humidity"])
        #expect(homie.match("homie/dev1/sensor/humidity")?.sensor == "dev1")
        #expect(homie.match("homie/dev1")?.sensor == "dev1")
    }

    @Test("the first matching pattern wins")
    func router() throws {
        let router = TopicRouter([
            try TopicPattern("parks/{park}/special/{pillar}/{kind}/{sensor}", fixed: ["zone": "special-zone"]),
            try TopicPattern(TopicPattern.defaultPattern),
        ])
        #expect(router.match("parks/p/special/energy/power/m1")?.zone == "special-zone")
        #expect(router.match("parks/p/zone-b/energy/power/m1")?.zone == "zone-b")
        #expect(router.match("other") == nil)
    }

    @Test(
        "bad patterns are refused with the reason",
        arguments: [
            ("parks/{park}/{zone}/{pillar}/{kind}", "no {sensor}"),
            ("parks/{park}/{zone}/{pillar}/{kind}/{sensor}/{park}", "appears twice"),
            ("parks/{plant}/{zone}/{pillar}/{kind}/{sensor}", "unknown field {plant}"),
            ("parks/#/{park}/{zone}/{pillar}/{kind}/{sensor}", "'#' must be the last"),
            ("parks/x{park}/{zone}/{pillar}/{kind}/{sensor}", "whole level"),
        ])
    func badPatterns(text: String, reason: String) {
        let error = #expect(throws: TopicPatternError.self) { try TopicPattern(text) }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("a fixed pillar must be a real pillar")
    func fixedPillar() {
        #expect(throws: TopicPatternError.self) {
            try TopicPattern("a/{sensor}", fixed: ["park": "p", "zone": "z", "pillar": "water", "kind": "k"])
        }
    }
}
