import Logging
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest
@testable import TelemetryCore

/// Each stage of the ingest path on its own: route, admit, series, rules, park accounting.
@Suite("Ingest stages")
struct IngestStageTests {
    static let t0 = EventTime(milliseconds: 1_795_392_000_000)  // 2026-11-23T00:00Z, 07:00 in the park
    static let pm25 = SeriesID(park: "p", zone: "z", pillar: .emissions, kind: "pm25", sensor: "a1")

    @Test("route: a cached topic costs one lookup; bad, long and unknown topics are refused with their reason")
    func route() throws {
        var router = TopicRouter(
            routes: [TopicRoute(pattern: try TopicPattern(TopicPattern.defaultPattern))], maxCached: 2)
        let limits = IngestPipeline.Limits(maxTopicBytes: 64, maxTopicLevels: 8)
        guard case .success(let entry) = router.route("parks/p/z/emissions/pm25/a1", limits: limits) else {
            Issue.record("a good topic was refused")
            return
        }
        #expect(entry.base == Self.pm25 && entry.slot == -1)
        router.remember(cached: entry.cached, slot: 7)
        guard case .success(let cached) = router.route("parks/p/z/emissions/pm25/a1", limits: limits) else {
            Issue.record("a cached topic was refused")
            return
        }
        #expect(cached.slot == 7)
        func reason(_ topic: String) -> RejectReason? {
            if case .failure(.refused(let reason, _)) = router.route(topic, limits: limits) { return reason }
            return nil
        }
        #expect(reason("parks/p/z/emissions/pm25/a+") == .badTopic)
        #expect(reason("parks/p/z/emissions/pm25/a\u{1}") == .badTopic)
        #expect(reason(String(repeating: "x", count: 65)) == .topicTooLong)
        #expect(reason("a/b/c/d/e/f/g/h/i/j") == .topicTooLong)  // 10 levels, limit 8
        #expect(reason("other/topic") == .unknownTopic)
        #expect(reason("other/topic") == .unknownTopic)  // cached as unknown: the same answer
        // The cache is bounded (2 here): a third topic is answered without being kept.
        #expect(reason("third/topic") == .unknownTopic)
        router.forgetSlots()
        guard case .success(let fresh) = router.route("parks/p/z/emissions/pm25/a1", limits: limits) else {
            Issue.record("a topic was refused after the cache was cleared")
            return
        }
        #expect(fresh.slot == -1)
        // Bytes off the wire that are not UTF-8 are refused before they are cached.
        let invalid: [UInt8] = Array("parks/p/z/emissions/pm25/".utf8) + [0xC3, 0x28]
        let refused = invalid.withUnsafeBufferPointer { router.route($0, limits: limits) }
        guard case .failure(.refused(.badTopic, let detail)) = refused else {
            Issue.record("a topic that is not UTF-8 was taken: \(refused)")
            return
        }
        #expect(detail.contains("not valid UTF-8"))
        // The first problem in order is the one named, as it was when topics arrived as text.
        let both: [UInt8] = Array("parks/".utf8) + [0x01, UInt8(ascii: "/"), 0xFF]
        let first = both.withUnsafeBufferPointer { router.route($0, limits: limits) }
        guard case .failure(.refused(.badTopic, let named)) = first else {
            Issue.record("a topic with a control character was taken: \(first)")
            return
        }
        #expect(named.contains("control character U+1"), "\(named)")
        // A full cache still routes (without remembering the series).
        var full = TopicRouter(
            routes: [TopicRoute(pattern: try TopicPattern(TopicPattern.defaultPattern))], maxCached: 1)
        guard case .success(let kept) = full.route("parks/p/z/emissions/pm25/a1", limits: limits),
            case .success(let passing) = full.route("parks/p/z/emissions/pm25/a2", limits: limits)
        else {
            Issue.record("a topic was refused with the cache full")
            return
        }
        #expect(kept.cached == 0 && passing.cached == -1)
        full.remember(cached: passing.cached, slot: 3)
        full.remember(cached: kept.cached, slot: 4)
        guard case .success(let uncached) = full.route("parks/p/z/emissions/pm25/a2", limits: limits),
            case .success(let cached) = full.route("parks/p/z/emissions/pm25/a1", limits: limits)
        else {
            Issue.record("a topic was refused the second time with the cache full")
            return
        }
        #expect(uncached.slot == -1)
        #expect(cached.slot == 4)
    }

    @Test("route: a topic found by the caller's number is the topic's own entry, also after the cache is cleared")
    func routeByAlias() throws {
        var router = TopicRouter(
            routes: [TopicRoute(pattern: try TopicPattern(TopicPattern.defaultPattern))], maxCached: 10)
        let limits = IngestPipeline.Limits(maxTopicBytes: 64, maxTopicLevels: 8)
        let a = "parks/p/z/emissions/pm25/a1"
        let b = "parks/p/z/emissions/pm25/b2"
        func route(_ topic: String, alias: Int32 = -1) -> ParkIngest.TopicRouter.Entry? {
            var text = topic
            let found = text.withUTF8 { router.route($0, alias: alias, limits: limits) }
            guard case .success(let entry) = found else { return nil }
            return entry
        }
        // Numbered 0 and 5 (a gap): each found by its bytes first, then by its number alone
        // (the caller vouches for the number: other bytes with it are not looked at).
        let first = try #require(route(a, alias: 0))
        router.remember(cached: first.cached, slot: 1)
        _ = try #require(route(b, alias: 5))
        #expect(route("parks/p/z/emissions/pm25/zz", alias: 0)?.base?.sensor == "a1")
        #expect(route(a, alias: 0)?.slot == 1)
        #expect(route("unknown", alias: 5)?.base?.sensor == "b2")
        // After an eviction the cache fills again in another order (B first, then A): a number
        // kept from before would now name B's place and hand A's readings to B.
        router.forgetSlots()
        #expect(route(b)?.cached == 0 && route(a)?.cached == 1)
        #expect(route(a, alias: 0)?.base?.sensor == "a1")
        #expect(route(b, alias: 5)?.base?.sensor == "b2")
        #expect(route(a, alias: 0)?.slot == -1)
        // A topic the full cache does not keep gets no number either: the number next given
        // with another topic does not find it.
        var full = TopicRouter(
            routes: [TopicRoute(pattern: try TopicPattern(TopicPattern.defaultPattern))], maxCached: 1)
        var text = a
        _ = text.withUTF8 { full.route($0, alias: 0, limits: limits) }
        text = b
        guard case .success(let passing) = text.withUTF8({ full.route($0, alias: 1, limits: limits) }) else {
            Issue.record("a topic was refused with the cache full")
            return
        }
        #expect(passing.cached == -1)
        text = "other/topic"
        let other = text.withUTF8 { full.route($0, alias: 1, limits: limits) }
        guard case .failure(.refused(.unknownTopic, _)) = other else {
            Issue.record("a number given with an uncached topic found it again: \(other)")
            return
        }
    }

    @Test("route: the topic index finds each topic it holds by its bytes, and no other (against a dictionary)")
    func topicIndex() {
        var random = SeededRandom(seed: 11)
        var index = TopicIndex()
        var known: [String: Int32] = [:]
        // Topics that share long prefixes and differ in one byte anywhere, of every length
        // around the 8-byte steps the comparison takes.
        for n in 0..<3_000 {
            let length = Int.random(in: 0..<40, using: &random)
            var bytes = (0..<length).map { _ in UInt8(ascii: "a") + UInt8.random(in: 0..<3, using: &random) }
            if n % 7 == 0, let other = known.keys.randomElement(using: &random) {
                bytes = Array(other.utf8)
                if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8(ascii: "z") }
            }
            let topic = String(decoding: bytes, as: UTF8.self)
            let found = bytes.withUnsafeBufferPointer { index.find($0, hash: TopicIndex.hash($0)) }
            #expect(found == known[topic], "\(topic)")
            if found == nil {
                known[topic] = bytes.withUnsafeBufferPointer { index.insert($0, hash: TopicIndex.hash($0)) }
            }
        }
        #expect(index.count == known.count)
        for (topic, at) in known {
            let found = Array(topic.utf8).withUnsafeBufferPointer { index.find($0, hash: TopicIndex.hash($0)) }
            #expect(found == at)
        }
        // Every topic under one hash: only the byte comparison tells them apart. Topics of every
        // length up to 20 that differ from a base in one byte, at each position.
        var colliding = TopicIndex()
        let base = Array("parks/p/z/e/pm25/a1b".utf8)
        var held: [[UInt8]] = []
        for length in 0...base.count {
            held.append(Array(base.prefix(length)))
            for at in 0..<length {
                var variant = Array(base.prefix(length))
                variant[at] = UInt8(ascii: "#")
                held.append(variant)
            }
        }
        for (n, topic) in held.enumerated() where n % 2 == 0 {
            #expect(topic.withUnsafeBufferPointer { colliding.insert($0, hash: 0) } == Int32(n / 2))
        }
        for (n, topic) in held.enumerated() {
            let found = topic.withUnsafeBufferPointer { colliding.find($0, hash: 0) }
            #expect(found == (n % 2 == 0 ? Int32(n / 2) : nil), "\(String(decoding: topic, as: UTF8.self))")
        }
        index.removeAll()
        #expect(Array("aaa".utf8).withUnsafeBufferPointer { index.find($0, hash: TopicIndex.hash($0)) } == nil)
        // Filled again after being emptied: indexes start at 0, and only the new topics are found.
        let first = Array("ab".utf8).withUnsafeBufferPointer { index.insert($0, hash: TopicIndex.hash($0)) }
        let second = Array("abc".utf8).withUnsafeBufferPointer { index.insert($0, hash: TopicIndex.hash($0)) }
        #expect(first == 0 && second == 1 && index.count == 2)
        #expect(Array("abc".utf8).withUnsafeBufferPointer { index.find($0, hash: TopicIndex.hash($0)) } == 1)
        #expect(Array("ab".utf8).withUnsafeBufferPointer { index.find($0, hash: TopicIndex.hash($0)) } == 0)
        #expect(Array("a".utf8).withUnsafeBufferPointer { index.find($0, hash: TopicIndex.hash($0)) } == nil)
    }

    @Test("admit: time and retained refusals, and why a series may not open, each with its reason")
    func admit() {
        let limits = IngestPipeline.Limits(maxSeries: 3, maxSeriesPerPark: 2, maxNewSeriesPerMessage: 1)
        let arrival = Self.t0
        let ahead = Reading(value: 1, time: EventTime(milliseconds: arrival.milliseconds + 6 * 60_000))
        #expect(Admission.refusal(ahead, arrival: arrival, retained: false, limits: limits) == .futureTime)
        let old = Reading(value: 1, time: EventTime(milliseconds: arrival.milliseconds - 8 * 86_400_000))
        #expect(Admission.refusal(old, arrival: arrival, retained: false, limits: limits) == .tooOld)
        let untimed = Reading(value: 1, time: arrival, timed: false)
        #expect(Admission.refusal(untimed, arrival: arrival, retained: true, limits: limits) == .retained)
        #expect(Admission.refusal(untimed, arrival: arrival, retained: false, limits: limits) == nil)
        let admission = Admission(catalog: .standard)
        func problem(_ id: SeriesID, named: Bool = false, opened: Int = 0, park: Int = 0, total: Int = 0)
            -> RejectReason?
        {
            admission.openingProblem(
                id, named: named, openedByMessage: opened, parkSeries: park, totalSeries: total, limits: limits)?
                .reason
        }
        var id = Self.pm25
        #expect(problem(id) == nil)
        #expect(problem(id, opened: 1) == .messageSeriesLimit)
        #expect(problem(id, park: 2) == .parkSeriesLimit)
        #expect(problem(id, total: 3) == .seriesLimit)
        id.kind = "no such kind"
        #expect(problem(id, named: true) == .badName)
        id.kind = "made_up"
        #expect(problem(id) == .unknownKind)
    }

    @Test("series: slots in order, per-park counts, and eviction that compacts every array alike")
    func series() {
        var table = SeriesTable(
            windows: WindowSpec.defaults(), catalog: .standard, allowedLatenessMilliseconds: 300_000,
            quantileWindows: 0, detailWindows: 0)
        let ids = (0..<4).map {
            SeriesID(park: $0 < 3 ? "a" : "b", zone: "z", pillar: .emissions, kind: "pm25", sensor: "s\($0)")
        }
        for (k, id) in ids.enumerated() {
            #expect(
                table.open(id, arrival: EventTime(milliseconds: Self.t0.milliseconds + Int64(k) * 1000)) == Int32(k))
        }
        #expect(table.open(ids[1], arrival: Self.t0) == 1)  // already open: the same slot
        #expect(table.parkSeries["a"] == 3 && table.parkSeries["b"] == 1)
        #expect(table.kind(2)?.unit == "ug/m3")
        #expect(!table.states[0].windows[0].keepsDetail && !table.states[0].windows[0].keepsQuantiles)
        // At t0 + 2.5 s with a 1 s time-to-live, s0 and s1 are silent; s1 is held (an open interval, say).
        let silent = table.silent(at: EventTime(milliseconds: Self.t0.milliseconds + 2_500), ttl: 1_000) { $0 == 1 }
        #expect(silent == [0])
        let kept = table.remove(silent)
        #expect(kept == [false, true, true, true])
        #expect(table.ids == Array(ids.dropFirst()) && table[ids[2]] == 1 && table[ids[0]] == nil)
        #expect(table.parkSeries["a"] == 2 && table.records.count == 3)
        // The series of a kind share one settings box (8 bytes each, not 80); a kind of its
        // own gets its own, with its own range and decibels.
        let noise = SeriesID(park: "b", zone: "z", pillar: .emissions, kind: "noise", sensor: "n1")
        let n = Int(table.open(noise, arrival: Self.t0))
        #expect(table.states[0].sharedSettings === table.states[2].sharedSettings)
        #expect(table.states[n].sharedSettings !== table.states[0].sharedSettings)
        #expect(table.states[n].settings.decibels && table.states[n].settings.range == 20...140)
        #expect(!table.states[0].settings.decibels && table.states[0].settings.range == 0...2_000)
    }

    @Test("rules: handles survive readings, eviction drops them, and transitions are queued in order")
    func rules() {
        let rule = Rule(
            id: "high", description: "high", severity: .warning, reference: "QCVN test",
            matcher: SeriesMatcher(kind: "pm25"),
            condition: .threshold(source: .reading, above: true, limit: 50, clear: nil))
        var stage = RuleStage(rules: [rule], expected: [], queueWarning: 100)
        stage.opened(slot: 0)
        var state = SeriesState(windows: WindowSpec.defaults())
        let logger = Logger(label: "test")
        for (k, value) in [40.0, 60, 70, 45].enumerated() {
            let reading = Reading(value: value, time: EventTime(milliseconds: Self.t0.milliseconds + Int64(k) * 60_000))
            let outcome = state.add(reading)
            _ = stage.observe(
                slot: 0, Self.pm25, reading: reading, outcome: outcome, state: &state, arrival: reading.time,
                retained: false, logger: logger)
        }
        let alerts = stage.takeAlerts()
        #expect(alerts.map(\.state) == [.firing, .resolved] && alerts.map(\.value) == [60, 45])
        #expect(stage.takeAlerts().isEmpty && stage.transitions[.firing] == 1)
        stage.remove([Self.pm25], kept: [false])
        #expect(!stage.isActive(Self.pm25))
    }

    @Test(
        "park accounting: figures per park and kind, reporting sensors, counter increase split pro rata into EVN periods and 15-minute intervals"
    )
    func accounting() throws {
        var accounting = ParkAccounting(schedules: 2, utcOffsetMinutes: 420)
        let meter = SeriesID(park: "p", zone: "z", pillar: .energy, kind: "energy", sensor: "m1")
        let ids = [Self.pm25, meter]
        accounting.opened(Self.pm25, shape: .gauge)
        accounting.opened(meter, shape: .counter)
        var gauge = SeriesState(windows: WindowSpec.defaults())
        var counterSettings = SeriesState.Settings()
        counterSettings.shape = .counter
        var counter = SeriesState(windows: WindowSpec.defaults(), settings: counterSettings)
        // PM2.5 30 and 40 at 07:00 and 07:01 local; kWh 100 at 09:00, 110 at 09:45 (peak from 09:30), 125 at 10:00.
        for (minute, value) in [(0, 30.0), (1, 40.0)] {
            let r = Reading(value: value, time: EventTime(milliseconds: Self.t0.milliseconds + Int64(minute) * 60_000))
            accounting.record(slot: 0, gauge.add(r), r)
        }
        for (minute, value) in [(120, 100.0), (165, 110.0), (180, 125.0)] {
            let r = Reading(value: value, time: EventTime(milliseconds: Self.t0.milliseconds + Int64(minute) * 60_000))
            accounting.record(slot: 1, counter.add(r), r)
        }
        accounting.refused(slot: 0, .futureTime)
        #expect(accounting.reportedIn(0, 0) && accounting.reportedIn(1, 1))
        let parks = accounting.close(
            schedule: 0, from: Self.t0, to: EventTime(milliseconds: Self.t0.milliseconds + 4 * 3_600_000), ids: ids,
            expected: [], stale: [], sites: [:])
        let emissions = parks.first { $0.pillar == .emissions }!
        #expect(emissions.means["pm25"] == 35)  // (30 + 40) / 2
        #expect(emissions.readings == 3 && emissions.accepted == 2 && emissions.quality.futureTime == 1)
        #expect(emissions.reportingSensors == 1 && emissions.knownSensors == 1)
        let energy = parks.first { $0.pillar == .energy }!
        #expect(energy.energyKWh == 25)  // 125 − 100
        // 09:00→09:45 adds 10 kWh, a third of it after 09:30 (EVN 2014 peak from 09:30):
        // peak = 10 × 15/45 + 15 = 18.33, normal = 10 × 30/45 = 6.67.
        let tariff = try #require(energy.tariffKWh)
        #expect(abs(tariff[.peak]! - (10.0 / 3 + 15)) < 1e-9 && abs(tariff[.normal]! - 20.0 / 3) < 1e-9)
        #expect(tariff[.offPeak] == 0)
        // The 09:45–10:00 interval holds 15 kWh: 60 kW; the others 10/3 kWh each (13.3 kW).
        #expect(energy.peakDemandKW == 60)
        // Schedule 0 closed and starts afresh; schedule 1 still holds its figures.
        #expect(!accounting.reportedIn(0, 0) && accounting.reportedIn(1, 0))
        accounting.remove([0], ids: ids, kept: [false, true])
        #expect(accounting.counter(slot: 0) == 125)
    }

    /// The configuration caps summary intervals at `ParkAccounting.maxSchedules` (8), what the
    /// reporting marks hold; more still must not trap: 63 of them once did on the first reading
    /// (the reporting mask was built as `1 << 63 - 1` in an Int).
    @Test(
        "park accounting counts a reading in every schedule, with 1 to 64 intervals", arguments: [1, 2, 8, 9, 63, 64])
    func everySchedule(schedules: Int) {
        var accounting = ParkAccounting(schedules: schedules, utcOffsetMinutes: 420)
        accounting.opened(Self.pm25, shape: .gauge)
        var gauge = SeriesState(windows: WindowSpec.defaults())
        for (minute, value) in [(0, 30.0), (1, 40.0)] {
            let r = Reading(value: value, time: EventTime(milliseconds: Self.t0.milliseconds + Int64(minute) * 60_000))
            accounting.record(slot: 0, gauge.add(r), r)
        }
        // The reporting marks hold the first eight schedules.
        for k in 0..<min(schedules, 8) { #expect(accounting.reportedIn(k, 0), "schedule \(k) of \(schedules)") }
        for k in Set([0, schedules - 1]).sorted() {
            let parks = accounting.close(
                schedule: k, from: Self.t0, to: EventTime(milliseconds: Self.t0.milliseconds + 3_600_000),
                ids: [Self.pm25], expected: [], stale: [], sites: [:])
            let emissions = parks.first { $0.pillar == .emissions }
            #expect(emissions?.means["pm25"] == 35 && emissions?.accepted == 2, "schedule \(k) of \(schedules)")  // (30 + 40) / 2
        }
    }

    /// Found by an independent known-answer feed: with intervals [1h, 1d], the first daily line
    /// had no peak demand although every hourly line of that day had 60 kW.
    @Test("the longer schedule keeps the quarters it still needs: the first day's peak demand is the hours' 60 kW")
    func peakDemandAcrossSchedules() throws {
        var accounting = ParkAccounting(schedules: 2, utcOffsetMinutes: 420)
        let meter = SeriesID(park: "p", zone: "z", pillar: .energy, kind: "energy", sensor: "m1")
        accounting.opened(meter, shape: .counter)
        var settings = SeriesState.Settings()
        settings.shape = .counter
        var counter = SeriesState(windows: WindowSpec.defaults(), settings: settings)
        // 15 kWh every quarter of an hour for two hours from t0: 15 × 4 = 60 kW in each quarter.
        func read(_ quarter: Int) {
            let r = Reading(
                value: 1000 + 15 * Double(quarter),
                time: EventTime(milliseconds: Self.t0.milliseconds + Int64(quarter) * 900_000))
            accounting.record(slot: 0, counter.add(r), r)
        }
        read(0)
        let hour: Int64 = 3_600_000
        for h in 0..<2 {
            for quarter in (4 * h + 1)...(4 * h + 4) { read(quarter) }
            let hourly = accounting.close(
                schedule: 0, from: EventTime(milliseconds: Self.t0.milliseconds + Int64(h) * hour),
                to: EventTime(milliseconds: Self.t0.milliseconds + Int64(h + 1) * hour), ids: [meter], expected: [],
                stale: [], sites: [:])
            #expect(hourly.first { $0.pillar == .energy }?.peakDemandKW == 60, "hour \(h)")
        }
        let daily = accounting.close(
            schedule: 1, from: Self.t0, to: EventTime(milliseconds: Self.t0.milliseconds + 24 * hour), ids: [meter],
            expected: [], stale: [], sites: [:])
        #expect(daily.first { $0.pillar == .energy }?.peakDemandKW == 60)
    }
}
