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

    @Test("a pattern names the series that splitting the topic into levels names (random topics and patterns)")
    func matchAgreesWithSplitting() throws {
        // The matcher as it was, over a list of levels: the reference.
        func reference(_ pattern: TopicPattern, _ topic: String) -> SeriesID? {
            var values: [TopicPattern.Field: Substring] = [:]
            var levels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
            for segment in pattern.segments {
                switch segment {
                case .rest: levels = []
                case .anyLevel: guard levels.popFirst() != nil else { return nil }
                case .literal(let text):
                    guard let level = levels.popFirst(), level.elementsEqual(text.utf8) else { return nil }
                case .field(let field):
                    guard let level = levels.popFirst(), !level.isEmpty else { return nil }
                    values[field] = Substring(level)
                }
            }
            guard levels.isEmpty else { return nil }
            func value(_ field: TopicPattern.Field) -> String? {
                values[field].map(String.init) ?? pattern.fixed[field]
            }
            guard let park = value(.park), let zone = value(.zone), let pillar = value(.pillar).flatMap(Pillar.init),
                let kind = value(.kind), let sensor = value(.sensor)
            else { return nil }
            return SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
        }
        let patterns = [
            try TopicPattern(TopicPattern.defaultPattern),
            try TopicPattern("p/+/{park}/{zone}/{pillar}/{kind}/{sensor}/#"),
            try TopicPattern("{sensor}/x/#", fixed: ["park": "p", "zone": "z", "pillar": "green", "kind": "k"]),
            try TopicPattern("{pillar}/{kind}", fixed: ["park": "p", "zone": "z", "sensor": "s"]),
            try TopicPattern("a/{park}/{zone}/{pillar}/{kind}/{sensor}/+"),
            // Empty literal levels (a leading slash, a double one), a literal beyond ASCII, a bare #.
            try TopicPattern("/{park}//{pillar}/{kind}", fixed: ["zone": "z", "sensor": "s"]),
            try TopicPattern("e\u{301}/{sensor}/{kind}", fixed: ["park": "p", "zone": "z", "pillar": "energy"]),
            try TopicPattern("#", fixed: ["park": "p", "zone": "z", "pillar": "energy", "kind": "k", "sensor": "s"]),
        ]
        var random = SeededRandom(seed: 5)
        // Words that begin with a combining mark, so that a level's first character would
        // swallow the slash before it if the topic were split by characters.
        let words = [
            "", "p", "x", "a", "parks", "energy", "green", "e\u{301}", "\u{301}", "\u{301}x", "\u{1F600}", "q/", "/",
        ]
        var named = 0
        var mismatches: [String] = []
        for _ in 0..<20_000 {
            let count = 1 + Int(random.next() % 9)
            let topic = (0..<count).map { _ in words[Int(random.next() % UInt64(words.count))] }.joined(separator: "/")
            for pattern in patterns {
                let found = pattern.match(topic)
                if found != reference(pattern, topic) { mismatches.append("\(pattern) on '\(topic)'") }
                if found != nil { named += 1 }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count): \(mismatches.prefix(5))")
        #expect(named > 500, "\(named) topics named a series")
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
