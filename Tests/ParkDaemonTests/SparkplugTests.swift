import Foundation
import Logging
import Sparkplug
import Testing

@testable import ParkConfig
@testable import ParkIngest
@testable import TelemetryCore

/// Sparkplug B: the decoder against bytes from an independent encoder (protoc), and the host
/// stage's state machine through the whole pipeline.
@Suite("Sparkplug B")
struct SparkplugTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/sparkplug")
    /// 2026-11-29T11:33:20Z: the fixtures' timestamps are around it.
    static let t0 = EventTime(milliseconds: 1_796_000_000_000)

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    // MARK: The payload

    @Test("bytes protoc encoded decode exactly: every scalar type, and what is skipped by its reason")
    func protocFixture() throws {
        guard case .success(let payload) = SparkplugPayload.decode(try Self.fixture("dbirth.bin")) else {
            Issue.record("the fixture did not decode")
            return
        }
        #expect(payload.timestamp == 1_796_000_000_000 && payload.seq == 1 && payload.metrics.count == 22)
        var byName: [String: SparkplugPayload.Metric] = [:]
        for m in payload.metrics { byName[m.name!] = m }
        func number(_ name: String) -> Double? {
            guard let m = byName[name], case .success(let v) = m.number(as: m.datatype) else { return nil }
            return v
        }
        func skip(_ name: String) -> SparkplugSkip? {
            guard let m = byName[name], case .failure(let reason) = m.number(as: m.datatype) else { return nil }
            return reason
        }
        // Hand-checked against the fixture's text: two's complement in the unsigned fields.
        #expect(number("Int8") == -2)  // 0xFFFFFFFE
        #expect(number("Int8Narrow") == -2)  // 0xFE
        #expect(number("Int16") == -32768)  // 0xFFFF8000
        #expect(number("Int32") == -2_147_483_648)  // 0x80000000
        #expect(number("Int64") == -5)  // 2^64 - 5
        #expect(number("UInt8") == 255)
        #expect(number("UInt16") == 65535)
        #expect(number("UInt32") == 4_294_967_295)
        #expect(number("UInt64") == 9_007_199_254_740_992)  // 2^53 + 1 rounds to 2^53 in a Double
        #expect(number("Float") == Double(Float(0.1)))  // 0.100000001490116...
        #expect(number("Double") == -273.15)
        #expect(number("Boolean") == 1)
        #expect(number("DateTime") == 1_796_000_000.5)  // ms → s
        #expect(number("Meter/Active Power") == 42.5)
        #expect(byName["Meter/Active Power"]?.hasProperties == true)
        #expect(byName["Meter/Active Power"]?.timestamp == 1_795_999_999_000)
        #expect(skip("Serial") == .string)
        #expect(skip("Blob") == .bytes)
        #expect(skip("Table") == .dataset)
        #expect(skip("Motor") == .template)
        #expect(skip("Missing") == .null)
        #expect(skip("File") == .bytes)
        #expect(byName["Old"]?.isHistorical == true && number("Old") == 7)
        #expect(byName["Passing"]?.isTransient == true)
    }

    @Test("the committed fixtures are what protoc makes of their text")
    func fixturesAreProtocs() throws {
        let protoc = try Subprocess.tool("protoc")
        for name in ["dbirth", "ddata"] {
            let (status, bytes, errors) = try Subprocess.run(
                protoc, ["--encode=org.eclipse.tahu.protobuf.Payload", "full.proto"],
                inputFile: Self.fixtures.appendingPathComponent("\(name).txtpb"), directory: Self.fixtures.path)
            #expect(status == 0, "\(errors)")
            #expect(Array(bytes) == (try Self.fixture("\(name).bin")), "\(name).bin differs from protoc's encoding")
        }
    }

    @Test("property: any payload parkd encodes decodes to the same values")
    func roundTrip() {
        var random = SeededRandom(seed: 7)
        for _ in 0..<300 {
            var payload = SparkplugPayload(
                timestamp: random.next() % 2 == 0 ? random.next() : nil, seq: random.next() % 256)
            for k in 0..<Int(random.next() % 8) {
                var m = SparkplugPayload.Metric(
                    name: random.next() % 2 == 0 ? "m/\(k)" : nil, alias: random.next() % 1000,
                    timestamp: random.next() % 2 == 0 ? random.next() % 4_000_000_000_000 : nil,
                    datatype: UInt32(random.next() % 35))
                switch random.next() % 6 {
                case 0: m.value = .int(UInt32(truncatingIfNeeded: random.next()))
                case 1: m.value = .long(random.next())
                case 2: m.value = .float(Float(Int(random.next() % 20_000) - 10_000) / 8)
                case 3: m.value = .double(Double(Int(random.next() % 2_000_000) - 1_000_000) / 64)
                case 4: m.value = .bool(random.next() % 2 == 0)
                default: m.value = .string("s\(random.next() % 100)")
                }
                m.isNull = random.next() % 10 == 0
                m.isHistorical = random.next() % 10 == 0
                m.isTransient = random.next() % 10 == 0
                payload.metrics.append(m)
            }
            #expect(SparkplugPayload.decode(payload.encoded()) == .success(payload))
        }
    }

    @Test("truncated and random bytes are refused with a reason, never a crash")
    func malformed() throws {
        let bytes = try Self.fixture("dbirth.bin")
        guard case .success(let whole) = SparkplugPayload.decode(bytes) else {
            Issue.record("the fixture did not decode")
            return
        }
        // A cut inside a field is refused; a cut between two fields gives those before it and
        // nothing invented: never a metric the whole payload does not have.
        #expect((try? SparkplugPayload.decode(Array(bytes.dropLast())).get()) == nil)
        for cut in 1..<bytes.count {
            if case .success(let part) = SparkplugPayload.decode(Array(bytes.prefix(cut))) {
                #expect(Array(whole.metrics.prefix(part.metrics.count)) == part.metrics, "cut at \(cut)")
            }
        }
        // Random bytes: a refusal, or metrics whose numbers are finite.
        var random = SeededRandom(seed: 3)
        for _ in 0..<2000 {
            let junk = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            guard case .success(let payload) = SparkplugPayload.decode(junk) else { continue }
            for metric in payload.metrics {
                if case .success(let v) = metric.number(as: metric.datatype) { #expect(v.isFinite) }
            }
        }
    }

    @Test("topics: types, device levels and ids")
    func topics() {
        #expect(
            SparkplugTopic.parse("spBv1.0/g/DDATA/n/d")
                == .success(SparkplugTopic(group: "g", type: .ddata, node: "n", device: "d")))
        #expect(SparkplugTopic.parse("spBv1.0/STATE/host-1").map(\.type) == .success(.state))
        for bad in [
            "spBv1.0/g/DDATA/n", "spBv1.0/g/NDATA/n/d", "spBv1.0/g/XDATA/n", "spBv1.0//NDATA/n", "spAv1.0/g/NDATA/n",
        ] {
            if case .success = SparkplugTopic.parse(bad) { Issue.record("\(bad) was taken") }
        }
    }

    // MARK: The host, through the pipeline

    static let kinds = [
        "Meter/Active Power": "active_power", "Int8": "active_power", "Boolean": "power_factor",
        "Cabinet/Humidity": "humidity",
    ]

    static func pipeline(
        rebirth: Bool = true, mapping: SparkplugMapping = SparkplugMapping(), kinds: [String: String] = kinds
    )
        -> IngestPipeline
    {
        var settings = IngestPipeline.Settings(routes: [.sparkplug(mapping, kinds: kinds)])
        settings.sparkplug.requestRebirth = rebirth
        settings.sparkplug.reorderTimeoutMilliseconds = 2_000
        settings.sparkplug.rebirthIntervalMilliseconds = 30_000
        return IngestPipeline(settings: settings, logger: Logger(label: "test"))
    }

    static func at(_ seconds: Int) -> EventTime { EventTime(milliseconds: t0.milliseconds + Int64(seconds) * 1000) }

    static func nbirth(bdSeq: UInt64 = 0, seq: UInt64 = 0, humidity: Double = 50, at t: EventTime) -> [UInt8] {
        SparkplugPayload(
            timestamp: UInt64(t.milliseconds), seq: seq,
            metrics: [
                .init(name: "bdSeq", datatype: 4, value: .long(bdSeq)),
                .init(name: "Node Control/Rebirth", alias: 1, datatype: 11, value: .bool(false)),
                .init(name: "Cabinet/Humidity", alias: 2, datatype: 10, value: .double(humidity)),
            ]
        ).encoded()
    }

    static func dbirth(seq: UInt64, power: Float = 10, at t: EventTime) -> [UInt8] {
        SparkplugPayload(
            timestamp: UInt64(t.milliseconds), seq: seq,
            metrics: [
                .init(name: "Meter/Active Power", alias: 10, datatype: 9, value: .float(power)),
                .init(name: "Serial", alias: 11, datatype: 12, value: .string("SN")),
            ]
        ).encoded()
    }

    static func ddata(seq: UInt64, power: Float, alias: UInt64 = 10, at t: EventTime) -> [UInt8] {
        SparkplugPayload(
            timestamp: UInt64(t.milliseconds), seq: seq,
            metrics: [.init(alias: alias, timestamp: UInt64(t.milliseconds), value: .float(power))]
        ).encoded()
    }

    static let power = SeriesID(park: "g", zone: "n", pillar: .energy, kind: "active_power", sensor: "d")
    static let humidity = SeriesID(park: "g", zone: "n", pillar: .green, kind: "humidity", sensor: "n")

    static func count(_ p: IngestPipeline, _ id: SeriesID) -> Int { p.seriesState(id)?.counts.accepted ?? 0 }
    static func event(_ p: IngestPipeline, _ name: String) -> Int {
        p.sparkplugStatus.events.first { $0.event == name }?.count ?? 0
    }
    static func skipped(_ p: IngestPipeline, _ reason: String) -> Int {
        p.sparkplugStatus.skipped.first { $0.reason == reason }?.count ?? 0
    }

    @Test("BIRTH maps aliases; DATA by alias lands in the series; the sequence wraps at 255 without a gap")
    func dataByAlias() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(seq: 250, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 251, at: Self.at(0)), arrival: Self.at(0))
        for k in 0..<10 {
            let t = Self.at(k + 1)
            p.ingest(
                topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: UInt64((252 + k) % 256), power: Float(k), at: t),
                arrival: t)
        }
        #expect(Self.count(p, Self.power) == 11)  // the DBIRTH's value and 10 DATA
        #expect(Self.count(p, Self.humidity) == 1)
        #expect(p.seriesState(Self.power)?.raw.readings.last?.value == 9)
        #expect(Self.event(p, "seq_gap") == 0)
        #expect(Self.skipped(p, "string") == 1 && Self.skipped(p, "control") == 2)  // bdSeq, Node Control/Rebirth
        p.tick(at: Self.at(60))
        #expect(p.takeRebirthRequests().isEmpty)
    }

    @Test("DATA before BIRTH and an unknown alias are counted and ask for one rebirth (or only count, when off)")
    func beforeBirth() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NDATA/n", payload: Self.ddata(seq: 0, power: 1, at: Self.at(0)), arrival: Self.at(0))
        #expect(Self.event(p, "data_before_birth") == 1)
        #expect(p.takeRebirthRequests().map { "\($0.group)/\($0.node)" } == ["g/n"])
        #expect(p.totals.rejected[.missingField] == 1)
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(1)), arrival: Self.at(1))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(1)), arrival: Self.at(1))
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 1, alias: 77, at: Self.at(2)),
            arrival: Self.at(2))
        #expect(Self.event(p, "unknown_alias") == 1)
        // Within rebirth_interval (30 s) of the first request: held, then sent once.
        #expect(p.takeRebirthRequests().isEmpty)
        p.tick(at: Self.at(31))
        #expect(p.takeRebirthRequests().count == 1)
        p.tick(at: Self.at(62))
        #expect(p.takeRebirthRequests().isEmpty)

        let off = Self.pipeline(rebirth: false)
        off.ingest(
            topic: "spBv1.0/g/NDATA/n", payload: Self.ddata(seq: 0, power: 1, at: Self.at(0)), arrival: Self.at(0))
        off.tick(at: Self.at(5))
        #expect(off.takeRebirthRequests().isEmpty)
        #expect(Self.event(off, "rebirth_needed") == 1 && Self.event(off, "rebirth_requested") == 0)
    }

    @Test("a sequence gap asks for a rebirth after the reorder timeout, once; a late arrival within it closes the gap")
    func gaps() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        // seq 2 is late: 3 arrives first, then 2 within the 2 s reorder timeout.
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 3, power: 3, at: Self.at(2)), arrival: Self.at(2))
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 2, at: Self.at(1)), arrival: Self.at(3))
        p.tick(at: Self.at(10))
        #expect(p.takeRebirthRequests().isEmpty)
        #expect(Self.event(p, "seq_gap") == 1)
        // seq 4 is lost: 5 arrives, nothing more. No request before the timeout, one after.
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 5, power: 5, at: Self.at(11)), arrival: Self.at(11))
        p.tick(at: Self.at(12))
        #expect(p.takeRebirthRequests().isEmpty)
        p.tick(at: Self.at(13))
        #expect(p.takeRebirthRequests().count == 1)
        p.tick(at: Self.at(14))
        #expect(p.takeRebirthRequests().isEmpty)
        // A second gap 10 s later waits for the 30 s interval since the last request.
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 9, power: 9, at: Self.at(23)), arrival: Self.at(23))
        p.tick(at: Self.at(26))
        #expect(p.takeRebirthRequests().isEmpty)
        p.tick(at: Self.at(43))
        #expect(p.takeRebirthRequests().count == 1)
        #expect(Self.event(p, "rebirth_requested") == 2)
        // Every DATA's reading was taken, the reordered one too.
        let c = p.seriesState(Self.power)?.counts
        #expect(c.map { $0.accepted + $0.late + $0.outOfOrder } == 5)
    }

    @Test("NDEATH with the BIRTH's bdSeq makes the node's and its devices' series stale at once; an old one does not")
    func death() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(bdSeq: 4, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        let old = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(3))]).encoded()
        p.ingest(topic: "spBv1.0/g/NDEATH/n", payload: old, arrival: Self.at(5))
        #expect(Self.event(p, "stale_death") == 1)
        #expect(p.sparkplugStatus.offline.isEmpty && p.takeAlerts().isEmpty)
        let will = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(4))]).encoded()
        p.ingest(topic: "spBv1.0/g/NDEATH/n", payload: will, arrival: Self.at(6))
        #expect(p.sparkplugStatus.offline.map(\.series) == [Self.power, Self.humidity].sorted())
        let fired = p.takeAlerts()
        #expect(fired.count == 2 && fired.allSatisfy { $0.state == .firing && $0.rule == "sparkplug_offline" })
        #expect(fired.allSatisfy { $0.since == Self.at(6) })
        #expect(fired.allSatisfy { $0.message.hasSuffix(" at \($0.series)") }, "\(fired.map(\.message))")
        #expect(p.statusView(limit: 10).stale == [Self.power, Self.humidity].sorted())
        #expect(p.firingAlerts.map(\.rule) == ["sparkplug_offline", "sparkplug_offline"] && p.status.firingAlerts == 2)
        // A new session: the node is back at its NBIRTH, the device at its DBIRTH.
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(bdSeq: 5, at: Self.at(20)), arrival: Self.at(20))
        #expect(p.sparkplugStatus.offline.map(\.series) == [Self.power])
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(20)), arrival: Self.at(20))
        #expect(p.sparkplugStatus.offline.isEmpty)
        let resolved = p.takeAlerts()
        #expect(resolved.map(\.state) == [.resolved, .resolved])
        #expect(Set(resolved.map(\.id)) == Set(fired.map(\.id)))  // the same episodes end
        // DDEATH: the device alone.
        p.ingest(topic: "spBv1.0/g/DDEATH/n/d", payload: SparkplugPayload(seq: 2).encoded(), arrival: Self.at(30))
        #expect(p.sparkplugStatus.offline.map(\.series) == [Self.power])
    }

    @Test("while requests wait (the broker away), a node is asked once and counted once however often it is due")
    func oneRequestWhileWaiting() {
        let p = Self.pipeline()
        // DATA before any BIRTH at 0 s and again after the 30 s rebirth interval, nothing taken between.
        for t in [0, 40, 80] {
            p.ingest(
                topic: "spBv1.0/g/NDATA/n", payload: Self.ddata(seq: UInt64(t / 40), power: 1, at: Self.at(t)),
                arrival: Self.at(t))
        }
        #expect(Self.event(p, "data_before_birth") == 3)
        #expect(Self.event(p, "rebirth_requested") == 1)
        #expect(p.takeRebirthRequests().map { "\($0.group)/\($0.node)" } == ["g/n"])
        // Taken (sent): the next due time asks, and counts, again.
        p.ingest(
            topic: "spBv1.0/g/NDATA/n", payload: Self.ddata(seq: 3, power: 1, at: Self.at(120)), arrival: Self.at(120))
        #expect(Self.event(p, "rebirth_requested") == 2)
        #expect(p.takeRebirthRequests().count == 1)
    }

    @Test("a dead node's series are kept past series_ttl while their offline alert fires")
    func deadNodeNotEvicted() {
        var settings = Self.pipeline().settings
        settings.limits.seriesTTLMilliseconds = 60_000
        let q = IngestPipeline(settings: settings, logger: Logger(label: "test"))
        q.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(bdSeq: 4, at: Self.at(0)), arrival: Self.at(0))
        q.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        let will = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(4))]).encoded()
        q.ingest(topic: "spBv1.0/g/NDEATH/n", payload: will, arrival: Self.at(6))
        #expect(q.seriesCount == 2)
        // The summary interval closes (no open figures hold the series), then an hour of
        // silence, well past the minute's time-to-live: the alerts still fire.
        _ = q.takeInterval(schedule: 0, from: Self.at(0), to: Self.at(60), details: false, final: false)
        q.tick(at: Self.at(3_600))
        #expect(q.seriesCount == 2)
        #expect(q.firingAlerts.count == 2)
    }

    @Test("is_null, is_historical and is_transient: no reading, the reading's own time without liveness, not stored")
    func flags() {
        let p = Self.pipeline(kinds: ["Old": "active_power", "Missing": "humidity", "Passing": "humidity"])
        var payload = SparkplugPayload(timestamp: UInt64(Self.at(100).milliseconds), seq: 0)
        var old = SparkplugPayload.Metric(
            name: "Old", alias: 1, timestamp: UInt64(Self.at(40).milliseconds), datatype: 10, value: .double(7))
        old.isHistorical = true
        var missing = SparkplugPayload.Metric(name: "Missing", alias: 2, datatype: 10)
        missing.isNull = true
        var passing = SparkplugPayload.Metric(name: "Passing", alias: 3, datatype: 10, value: .double(8))
        passing.isTransient = true
        payload.metrics = [old, missing, passing]
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: payload.encoded(), arrival: Self.at(100))
        let id = SeriesID(park: "g", zone: "n", pillar: .energy, kind: "active_power", sensor: "n")
        #expect(p.seriesState(id)?.raw.readings.map(\.time) == [Self.at(40)])
        #expect(Self.skipped(p, "null") == 1 && Self.skipped(p, "transient") == 1)
        #expect(p.seriesCount == 1)
    }

    @Test("mapping: folders read as '.', fixed park and zone, only_mapped, and a kind with no pillar refused")
    func mapping() {
        var mapping = SparkplugMapping()
        mapping.park = "park-1"
        mapping.zone = "hall"
        let p = Self.pipeline(mapping: mapping, kinds: [:])
        var settings = p.settings
        settings.limits.allowUnknownKinds = true
        var routes = settings.routes
        routes[0].sparkplug!.pillar = .energy
        settings.routes = routes
        let q = IngestPipeline(settings: settings, logger: Logger(label: "test"))
        let birth = SparkplugPayload(
            timestamp: UInt64(Self.at(0).milliseconds), seq: 0,
            metrics: [.init(name: "Line 1/Motor/Speed", alias: 1, datatype: 10, value: .double(1450))]
        ).encoded()
        q.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: birth, arrival: Self.at(0))
        // A name with a space is not a kind name: refused as bad_name, and counted.
        #expect(q.totals.rejected[.badName] == 1)
        let named = SparkplugPayload(
            timestamp: UInt64(Self.at(1).milliseconds), seq: 0,
            metrics: [.init(name: "Line1/Motor/Speed", alias: 1, datatype: 10, value: .double(1450))]
        ).encoded()
        q.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: named, arrival: Self.at(1))
        #expect(
            q.seriesState(
                SeriesID(park: "park-1", zone: "hall", pillar: .energy, kind: "Line1.Motor.Speed", sensor: "n"))
                != nil)
        // Without a pillar, an unknown kind is refused by name.
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: named, arrival: Self.at(1))
        #expect(p.totals.rejected[.unknownKind] == 1 && p.seriesCount == 0)
        // only_mapped: the others are skipped, counted as unmapped.
        var only = SparkplugMapping()
        only.onlyMapped = true
        let r = Self.pipeline(mapping: only, kinds: ["Cabinet/Humidity": "humidity"])
        r.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        r.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: named, arrival: Self.at(1))
        #expect(Self.skipped(r, "unmapped") == 1 && r.seriesCount == 1)
        // groups: another group is an unknown topic.
        var groups = SparkplugMapping()
        groups.groups = ["a"]
        let s = Self.pipeline(mapping: groups)
        s.ingest(topic: "spBv1.0/b/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        #expect(s.totals.rejected[.unknownTopic] == 1)
        // Other hosts' STATE and commands are Sparkplug traffic, not errors.
        s.ingest(topic: "spBv1.0/STATE/other", payload: Array(#"{"online":true}"#.utf8), arrival: Self.at(0))
        s.ingest(
            topic: "spBv1.0/a/NCMD/n", payload: SparkplugPayload.rebirthRequest(at: 1).encoded(), arrival: Self.at(0))
        #expect(Self.event(s, "command") == 2 && s.totals.rejectedTotal == 1)
    }

    @Test("malformed payloads and topics are refused by reason, and the node's state is untouched")
    func badInput() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/NDATA/n", payload: [0xff, 0xff, 0xff], arrival: Self.at(1))
        p.ingest(topic: "spBv1.0/g/NDATA/n/extra", payload: [], arrival: Self.at(1))
        p.ingest(topic: "spBv1.0/g/NDATA/n", payload: Array(repeating: 0, count: 70_000), arrival: Self.at(1))
        #expect(p.totals.rejected[.malformed] == 1 && p.totals.rejected[.badTopic] == 1)
        #expect(p.totals.rejected[.tooLarge] == 1)
        let data = SparkplugPayload(
            timestamp: UInt64(Self.at(2).milliseconds), seq: 1,
            metrics: [.init(alias: 2, timestamp: UInt64(Self.at(2).milliseconds), value: .double(51))]
        ).encoded()
        p.ingest(topic: "spBv1.0/g/NDATA/n", payload: data, arrival: Self.at(2))
        #expect(Self.count(p, Self.humidity) == 2 && Self.event(p, "seq_gap") == 0)
    }

    @Test("the host's state survives a restart: DATA after it decodes without a rebirth, dead nodes stay stale")
    func restart() throws {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g2/NBIRTH/m", payload: Self.nbirth(bdSeq: 9, at: Self.at(0)), arrival: Self.at(0))
        let will = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(9))]).encoded()
        p.ingest(topic: "spBv1.0/g2/NDEATH/m", payload: will, arrival: Self.at(1))
        let saved = try #require(p.sparkplugState)
        let bytes = try JSONEncoder().encode(saved)
        let q = Self.pipeline()
        q.restoreSparkplug(try JSONDecoder().decode(SparkplugHost.Saved.self, from: bytes))
        q.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 5, at: Self.at(2)), arrival: Self.at(2))
        #expect(Self.count(q, Self.power) == 1)
        q.tick(at: Self.at(30))
        #expect(q.takeRebirthRequests().isEmpty && Self.event(q, "data_before_birth") == 0)
        #expect(q.sparkplugStatus.offline.map(\.series.park) == ["g2"])
    }

    // MARK: Configuration

    @Test("configuration: a sparkplug route and section read back equal; mistakes are named")
    func configuration() throws {
        let yaml = """
            broker: {url: "mqtt://127.0.0.1:1883"}
            subscriptions: [{filter: "spBv1.0/#", qos: 1}]
            topics:
              - sparkplug: {groups: [plant-a], park: park-1, pillar: energy, only_mapped: true}
                kinds: {"Meter/Active Power": active_power}
              - pattern: "parks/{park}/{zone}/{pillar}/{kind}/{sensor}"
            sparkplug: {host_id: parkd-gw1, rebirth: true, reorder_timeout: 500ms, rebirth_interval: 1m}
            """
        let c = try DaemonConfiguration.parse(yaml, file: "/etc/parkd/parkd.yaml")
        #expect(c.topics[0].sparkplug?.groups == ["plant-a"] && c.topics[0].sparkplug?.onlyMapped == true)
        #expect(c.sparkplug?.hostID == "parkd-gw1" && c.sparkplug?.rebirth == true)
        #expect(c.pipelineSettings.sparkplug.reorderTimeoutMilliseconds == 500)
        #expect(c.pipelineSettings.sparkplug.rebirthIntervalMilliseconds == 60_000)
        #expect(try DaemonConfiguration.parse(c.effectiveYAML, file: c.file) == c)
        let refusal = ConfigurationRefusal.text
        #expect(
            refusal(
                """
                broker: {url: "mqtt://127.0.0.1:1883"}
                topics: [{sparkplug: {}, pattern: "a/b"}]
                """
            ).contains("no 'pattern'"))
        #expect(
            refusal(
                """
                broker: {url: "mqtt://127.0.0.1:1883"}
                sparkplug: {host_id: gw}
                """
            ).contains("no topic route reads Sparkplug"))
        #expect(
            refusal(
                """
                broker: {url: "mqtt://127.0.0.1:1883"}
                topics: [{sparkplug: {}}]
                sparkplug: {host_id: "a/b"}
                """
            ).contains("cannot be a host id"))
        #expect(
            refusal(
                """
                broker: {url: "mqtt://127.0.0.1:1883"}
                topics: [{sparkplug: {groups: ["a+"]}}]
                """
            ).contains("cannot be a Sparkplug group id"))
    }

    // MARK: What an adversarial read found

    @Test("a repeated or older seq (a QoS 1 redelivery) is no gap: no rebirth, the next DATA goes on")
    func redelivery() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 2, at: Self.at(1)), arrival: Self.at(1))
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 2, at: Self.at(1)), arrival: Self.at(2))
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 1, power: 1, at: Self.at(0)), arrival: Self.at(2))
        p.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 3, power: 3, at: Self.at(3)), arrival: Self.at(3))
        p.tick(at: Self.at(20))
        #expect(Self.event(p, "old_seq") == 2 && Self.event(p, "seq_gap") == 0)
        #expect(p.takeRebirthRequests().isEmpty)
    }

    @Test("two sources that would name one series: the later is refused, and one node's death stays its own")
    func collisions() {
        var fixed = SparkplugMapping()
        fixed.zone = "hall"
        let p = Self.pipeline(
            mapping: fixed, kinds: ["Meter/Active Power": "active_power", "Inv2/Power": "active_power"])
        // node n1 and n2 each have a device d; with a fixed zone both would be g/hall/.../d.
        p.ingest(topic: "spBv1.0/g/NBIRTH/n1", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/NBIRTH/n2", payload: Self.nbirth(bdSeq: 7, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(
            topic: "spBv1.0/g/DBIRTH/n1/d", payload: Self.dbirth(seq: 1, power: 1, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(
            topic: "spBv1.0/g/DBIRTH/n2/d", payload: Self.dbirth(seq: 1, power: 2, at: Self.at(0)), arrival: Self.at(0))
        let id = SeriesID(park: "g", zone: "hall", pillar: .energy, kind: "active_power", sensor: "d")
        #expect(p.seriesState(id)?.raw.readings.map(\.value) == [1])
        #expect(Self.event(p, "collision") >= 1 && p.totals.rejected[.badName, default: 0] >= 1)
        // n2 dies: n1's series stays live.
        let will = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(7))]).encoded()
        p.ingest(topic: "spBv1.0/g/NDEATH/n2", payload: will, arrival: Self.at(5))
        #expect(!p.sparkplugStatus.offline.map(\.series).contains(id))
        // Two metrics of one device mapped to one kind: the second is refused.
        let q = Self.pipeline(kinds: ["Meter/Active Power": "active_power", "Inv2/Power": "active_power"])
        q.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        let both = SparkplugPayload(
            timestamp: UInt64(Self.at(0).milliseconds), seq: 1,
            metrics: [
                .init(name: "Meter/Active Power", alias: 1, datatype: 10, value: .double(1)),
                .init(name: "Inv2/Power", alias: 2, datatype: 10, value: .double(2)),
            ]
        ).encoded()
        q.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: both, arrival: Self.at(0))
        #expect(q.seriesState(Self.power)?.raw.readings.map(\.value) == [1])
        #expect(Self.event(q, "collision") == 1)
    }

    @Test("an NDEATH after a rebirth's NBIRTH, before the DBIRTHs, takes the devices down too")
    func deathBeforeDeviceBirth() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(10)), arrival: Self.at(10))
        let will = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(0))]).encoded()
        p.ingest(topic: "spBv1.0/g/NDEATH/n", payload: will, arrival: Self.at(11))
        #expect(p.sparkplugStatus.offline.map(\.series) == [Self.power, Self.humidity].sorted())
    }

    @Test("a flood of DATA from invented nodes holds no state, and its rebirth requests are bounded")
    func unknownFlood() {
        let p = Self.pipeline()
        for k in 0..<5_000 {
            p.ingest(
                topic: "spBv1.0/g/NDATA/bogus-\(k)", payload: Self.ddata(seq: 0, power: 1, at: Self.at(0)),
                arrival: Self.at(0))
        }
        #expect(p.sparkplugState == nil)
        #expect(p.takeRebirthRequests().count == SparkplugHost.maxUnknown)
        #expect(Self.event(p, "data_before_birth") == 5_000)
        // A real node still births and reports.
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(1)), arrival: Self.at(1))
        #expect(Self.count(p, Self.humidity) == 1)
    }

    @Test("a retained BIRTH, DATA or DEATH is ignored and counted")
    func retainedIgnored() {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        let will = SparkplugPayload(metrics: [.init(name: "bdSeq", datatype: 4, value: .long(0))]).encoded()
        p.ingest(topic: "spBv1.0/g/NDEATH/n", payload: will, arrival: Self.at(1), retained: true)
        #expect(p.sparkplugStatus.offline.isEmpty && Self.event(p, "retained") == 1)
    }

    @Test("restore: a damaged table is dropped without a crash; series are named under the mapping in force")
    func restoreChecks() throws {
        let p = Self.pipeline()
        p.ingest(topic: "spBv1.0/g/NBIRTH/n", payload: Self.nbirth(at: Self.at(0)), arrival: Self.at(0))
        p.ingest(topic: "spBv1.0/g/DBIRTH/n/d", payload: Self.dbirth(seq: 1, at: Self.at(0)), arrival: Self.at(0))
        var saved = try #require(p.sparkplugState)
        // Renamed kind: Meter/Active Power now maps to pv_power.
        let q = Self.pipeline(kinds: ["Meter/Active Power": "pv_power", "Cabinet/Humidity": "humidity"])
        q.restoreSparkplug(saved)
        q.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 5, at: Self.at(2)), arrival: Self.at(2))
        var pv = Self.power
        pv.kind = "pv_power"
        #expect(Self.count(q, pv) == 1 && Self.count(q, Self.power) == 0)
        // An alias pointing past the table's metrics (a damaged file): that node is dropped.
        let key = try #require(saved.nodes.keys.first)
        saved.nodes[key]!.devices["d"]!.byAlias[10] = 99
        saved.nodes[key]!.own.byAlias[2] = 42
        let r = Self.pipeline()
        r.restoreSparkplug(saved)
        #expect(r.sparkplugState == nil)
        r.ingest(
            topic: "spBv1.0/g/DDATA/n/d", payload: Self.ddata(seq: 2, power: 5, at: Self.at(2)), arrival: Self.at(2))
        #expect(Self.event(r, "data_before_birth") == 1)
    }

    @Test("configuration without a host id reads back equal (host_id: off)")
    func hostOffRoundTrip() throws {
        let c = try DaemonConfiguration.parse(
            """
            broker: {url: "mqtt://127.0.0.1:1883"}
            topics: [{sparkplug: {}}]
            sparkplug: {rebirth: true}
            """, file: "/etc/parkd/parkd.yaml")
        #expect(c.sparkplug?.hostID == nil)
        let again = try DaemonConfiguration.parse(c.effectiveYAML, file: c.file)
        #expect(again == c && again.sparkplug?.hostID == nil)
    }
}
