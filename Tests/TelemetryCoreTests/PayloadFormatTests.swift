import Testing

@testable import TelemetryCore

@Suite("Payload formats")
struct PayloadFormatTests {
    let arrival = EventTime(milliseconds: 1_795_400_000_000)

    func decode(_ format: PayloadFormat, _ text: String, paths: [(name: String, path: [String])] = [])
        throws(PayloadError)
        -> [Reading]
    {
        var readings: [Reading] = []
        try PayloadDecoder(format: format, maxBytes: 4096, lorawanPaths: paths).decode(
            Array(text.utf8), arrival: arrival, into: &readings)
        return readings
    }

    func failure(_ format: PayloadFormat, _ text: String) -> PayloadError? {
        #expect(throws: PayloadError.self) { try decode(format, text) }
    }

    @Test("a JSON object with several numbers gives a reading per number, sharing ts, unit and status")
    func jsonMulti() throws {
        let readings = try decode(.json, #"{"ts": 1795400100, "pm25": 41.5, "pm10": 60, "site": "north", "seq": 7}"#)
        #expect(readings.map(\.field) == ["pm25", "pm10"])
        #expect(readings.map(\.value) == [41.5, 60])
        #expect(readings.allSatisfy { $0.time.milliseconds == 1_795_400_100_000 && $0.seq == 7 })
    }

    @Test("bare numbers take the arrival time")
    func bareNumber() throws {
        #expect(try decode(.number, " 41.5\n") == [Reading(value: 41.5, time: arrival, timed: false)])
        #expect(try decode(.number, "-3e-2") == [Reading(value: -0.03, time: arrival, timed: false)])
        #expect(failure(.number, "41.5 ppm")?.reason == .malformed)
        #expect(failure(.number, "")?.reason == .empty)
        #expect(failure(.number, "NaN")?.reason == .malformed)
    }

    @Test("SenML: the RFC 8428 example packs")
    func senml() throws {
        // RFC 8428 §5.1.2: multiple data points with base name, base time and relative times.
        let readings = try decode(
            .senml,
            #"""
            [{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.320067464e+09,"bu":"%RH","v":20},
             {"u":"lon","v":24.30621},
             {"u":"lat","v":60.07965},
             {"t":60,"v":20.3},
             {"u":"lon","t":60,"v":24.30622},
             {"u":"lat","t":60,"v":60.07965},
             {"t":120,"v":20.7}]
            """#)
        #expect(readings.count == 7)
        #expect(readings.allSatisfy { $0.field == "urn:dev:ow:10e2073a01080063:" })
        #expect(
            readings[0]
                == Reading(
                    value: 20, time: EventTime(milliseconds: 1_320_067_464_000), unit: "%RH",
                    field: "urn:dev:ow:10e2073a01080063:"))
        #expect(readings[1].unit == "lon")
        #expect(readings[3].time.milliseconds == 1_320_067_524_000 && readings[3].unit == "%RH")
        #expect(readings[6].value == 20.7)
    }

    @Test("SenML: names, base values, relative times and skipped non-numeric records")
    func senmlDetails() throws {
        let readings = try decode(
            .senml,
            #"[{"bn":"st1/","bv":10,"n":"pm25","v":31.5,"u":"ug/m3"},{"n":"door","vb":true},{"n":"pm10","v":5,"t":-30}]"#
        )
        #expect(readings.map(\.field) == ["st1/pm25", "st1/pm10"])
        #expect(readings.map(\.value) == [41.5, 15])
        #expect(readings[0].time == arrival)
        #expect(readings[1].time.milliseconds == arrival.milliseconds - 30_000)
    }

    @Test(
        "SenML: malformed packs fail with the reason",
        arguments: [
            (#"{"n":"a","v":1}"#, "JSON array"),
            ("[]", "no records"),
            (#"[{"n":"a","v":"x"}]"#, "v must be a finite number"),
            (#"[{"v":1}]"#, "no name"),
            (#"[{"n":"a","vs":"text"}]"#, "no numeric record"),
            (#"[{"bn":5,"v":1}]"#, "bn must be a string"),
            (#"[1]"#, "record 0 is a number"),
        ])
    func senmlErrors(text: String, reason: String) {
        let error = failure(.senml, text)
        #expect(error?.detail.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("line protocol: tags, typed fields, escapes, several lines, nanosecond times")
    func lineProtocol() throws {
        let readings = try decode(
            .line,
            "weather,location=us-midwest temperature=82,humidity=71i 1465839830100400200\n"
                + "# a comment\n\nmeter,site=a\\ b power\\ kw=850.5,ok=true,label=\"x y\" 1795400100000000000\r\n"
                + "air pm2_5=41u")
        #expect(readings.map(\.field) == ["temperature", "humidity", "power kw", "pm2_5"])
        #expect(readings.map(\.value) == [82, 71, 850.5, 41])
        #expect(readings[0].time.milliseconds == 1_465_839_830_100)
        #expect(readings[2].time.milliseconds == 1_795_400_100_000)
        #expect(readings[3].time == arrival)
    }

    @Test(
        "line protocol: malformed lines fail with the line number",
        arguments: [
            ("weather", "line 1: expected"),
            ("ok a=1\nweather temperature", "line 2: field 'temperature' is not key=value"),
            ("weather temperature=hot", "field 'temperature' has value 'hot'"),
            ("weather temperature=1 soon", "timestamp 'soon'"),
            ("weather label=\"only text\"", "no numeric field"),
        ])
    func lineProtocolErrors(text: String, reason: String) {
        let error = failure(.line, text)
        #expect(error?.detail.contains(reason) == true, "\(String(describing: error))")
    }

    static let chirpstackUplink = #"""
        {"deduplicationId":"3ac7e3c4","time":"2026-11-23T10:15:00.123+07:00",
         "deviceInfo":{"tenantName":"park","applicationName":"soil","deviceName":"s-17","devEui":"0018b20000000abc"},
         "fPort":2,"data":"AQID","object":{"soil":{"moisture":31.5},"temp":28.25,"battery":3.6,"label":"x"},
         "rxInfo":[{"rssi":-97,"snr":7.5}]}
        """#

    @Test("ChirpStack v4: every number in object, or the configured paths, at the uplink's time")
    func chirpstack() throws {
        let all = try decode(.chirpstack, Self.chirpstackUplink)
        #expect(all.map(\.field) == ["temp", "battery"])
        #expect(all[0].time.milliseconds == 1_795_403_700_123)
        let chosen = try decode(
            .chirpstack, Self.chirpstackUplink,
            paths: [("soil_moisture", ["soil", "moisture"]), ("air_temperature", ["temp"])])
        #expect(chosen.map(\.field) == ["soil_moisture", "air_temperature"])
        #expect(chosen.map(\.value) == [31.5, 28.25])
        let missing = #expect(throws: PayloadError.self) {
            try decode(.chirpstack, Self.chirpstackUplink, paths: [("x", ["soil", "salinity"])])
        }
        #expect(missing?.detail == "no 'object.soil.salinity' for x")
        let noCodec = failure(.chirpstack, #"{"time":"2026-11-23T10:15:00Z","data":"AQID"}"#)
        #expect(noCodec?.detail.contains("payload codec") == true)
    }

    @Test("The Things Stack v3: uplink_message.decoded_payload at received_at")
    func tts() throws {
        let uplink = #"""
            {"end_device_ids":{"device_id":"meter-9","application_ids":{"application_id":"park"}},
             "received_at":"2026-11-23T03:15:00.500Z",
             "uplink_message":{"f_port":1,"frm_payload":"AQID","decoded_payload":{"power_kw":12.5,"energy_kwh":1042.25},
                               "received_at":"2026-11-23T03:15:00.250Z"}}
            """#
        let readings = try decode(.tts, uplink)
        #expect(readings.map(\.field) == ["power_kw", "energy_kwh"])
        #expect(readings[0].time.milliseconds == 1_795_403_700_250)
        #expect(
            failure(.tts, #"{"uplink_message":{"decoded_payload":[1]}}"#)?.detail.contains("expected an object") == true
        )
    }

    @Test("payloads over the size limit are refused before they are read")
    func sizeLimit() {
        let big = "{\"value\": 1, \"pad\": \"" + String(repeating: "x", count: 5000) + "\"}"
        for format in PayloadFormat.allCases {
            #expect(failure(format, big)?.reason == .tooLarge)
        }
    }

    @Test("no format crashes on random bytes (property)")
    func garbage() {
        var random = SeededRandom(seed: 11)
        let alphabet = Array(#"{}[]":,0123456789.eE+-truefalsn \"bnvtu=i#"#.utf8) + [0, 0xff, 0x0a]
        for _ in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0..<48, using: &random)).map { _ in alphabet.randomElement(using: &random)!
            }
            for format in PayloadFormat.allCases {
                var readings: [Reading] = []
                _ = try? PayloadDecoder(format: format).decode(bytes, arrival: arrival, into: &readings)
            }
        }
    }
}

@Suite("Sensor catalog and units")
struct SensorCatalogTests {
    let catalog = SensorCatalog.standard
    let time = EventTime(milliseconds: 0)

    @Test(
        "known conversions to the kind's canonical unit",
        arguments: [
            ("pm25", "mg/m³", 0.041, 41.0),
            ("pm25", "µg/m3", 41, 41),
            ("active_power", "W", 850_000, 850),
            ("active_power", "MW", 1.5, 1500),
            ("energy", "Wh", 12_500, 12.5),
            ("energy", "MWh", 2, 2000),
            ("air_temperature", "°F", 212, 100),
            ("green_area", "ha", 12.5, 125_000),
            ("ww_flow", "L/s", 10, 36),
        ])
    func conversions(kind: String, unit: String, value: Double, expected: Double) throws {
        let reading = try catalog.normalise(Reading(value: value, time: time, unit: unit), kind: kind)
        #expect(abs(reading.value - expected) < 1e-9 * max(1, expected))
        #expect(reading.unit == catalog[kind]?.unit)
    }

    @Test("an unknown unit is refused with what would be accepted")
    func badUnit() {
        let error = #expect(throws: PayloadError.self) {
            try catalog.normalise(Reading(value: 3, time: time, unit: "ppb"), kind: "no2")
        }
        #expect(error?.reason == .badUnit)
        #expect(error?.detail == "unit 'ppb' for no2: expected ug/m3, mg/m3")
    }

    @Test("no unit, and kinds outside the catalog, pass unchanged")
    func passThrough() throws {
        let reading = Reading(value: 3, time: time)
        #expect(try catalog.normalise(reading, kind: "pm25") == reading)
        let other = Reading(value: 3, time: time, unit: "furlongs")
        #expect(try catalog.normalise(other, kind: "custom_kind") == other)
    }

    @Test("every pillar has its kinds; counters are the cumulative ones")
    func coverage() {
        let kinds = catalog.kinds.values
        for pillar in Pillar.allCases { #expect(kinds.contains { $0.pillar == pillar }) }
        #expect(Set(kinds.filter { $0.shape == .counter }.map(\.kind)) == ["energy", "pv_energy", "irrigation_volume"])
        #expect(catalog["ww_ph"]?.range == 0...14)
    }
}

@Suite("Feed records")
struct FeedRecordTests {
    @Test("text and binary payloads round-trip through a feed line (property)")
    func roundTrip() throws {
        var random = SeededRandom(seed: 5)
        for i in 0..<2_000 {
            let binary = i % 3 == 0
            let payload: [UInt8] =
                binary
                ? (0..<Int.random(in: 0..<40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                : Array("{\"value\": \(i), \"note\": \"é\\\"\\n\"}".utf8)
            let record = FeedRecord(
                time: EventTime(milliseconds: 1_795_400_000_000 + Int64(i) * 37),
                topic: "parks/p/z/energy/power/m\(i % 9)",
                payload: payload, qos: i % 2, retain: i % 5 == 0)
            let parsed = try FeedRecord.parse(line: Array(record.line.utf8))
            #expect(parsed == record)
        }
    }

    /// `text` as a JSON string's body with every character that is not a letter or digit
    /// written as `\\uXXXX` (a surrogate pair above U+FFFF), `/` as `\\/` and `"` as `\\"`:
    /// the escapes a feed writer other than parksim may use.
    static func escapedEverywhere(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "/": out += "\\/"
            case "\"": out += "\\\""
            case _ where scalar.properties.isAlphabetic && scalar.isASCII: out.unicodeScalars.append(scalar)
            case _ where scalar.value >= 0x30 && scalar.value <= 0x39: out.unicodeScalars.append(scalar)
            default:
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
        }
        return out
    }

    @Test(
        "lines parsed into one shared buffer give back the records written, \\u escapes and a bad line among them (property)"
    )
    func sharedBuffer() throws {
        var random = SeededRandom(seed: 9)
        var shared: [UInt8] = Array("earlier bytes".utf8)
        var written: [FeedRecord?] = []
        var placed: [Result<FeedRecord.Placed, FeedError>] = []
        let pieces = ["value", "é", "😀", "\"", "\\", "/", " ", "\n", "水", "7", "{", ":"]
        for i in 0..<500 {
            let line: String
            if i % 11 == 5 {
                line = #"{"t":1795400000,"topic":"a","payload":"bad \q escape"}"#
                written.append(nil)
            } else {
                let text = (0..<Int.random(in: 0..<12, using: &random)).map { _ in
                    pieces.randomElement(using: &random)!
                }.joined()
                // Every fourth line's payload is bytes that are not UTF-8: written as payload_b64.
                let binary: [UInt8] =
                    [0xFF, 0xFE]
                    + (0..<Int.random(in: 0..<30, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random)
                    }
                let record = FeedRecord(
                    time: EventTime(milliseconds: 1_795_400_000_000 + Int64(i) * 37),
                    topic: "parks/p/z/" + (i % 3 == 0 ? "é😀\"q" : "energy") + "/m\(i % 9)",
                    payload: i % 4 == 0 ? binary : Array(text.utf8), qos: i % 2, retain: i % 5 == 0)
                written.append(record)
                if i % 4 == 0 { #expect(record.line.contains("payload_b64")) }
                // Half the lines as parksim writes them, half with escapes everywhere.
                line =
                    i % 2 == 0
                    ? record.line
                    : #"{"t":\#(String(format3: record.time)),"topic":"\#(Self.escapedEverywhere(record.topic))","#
                        + #""payload":"\#(Self.escapedEverywhere(text))","qos":\#(record.qos),"#
                        + #""retain":\#(record.retain)}"#
            }
            let before = shared
            placed.append(
                Array(line.utf8).withUnsafeBufferPointer { buffer in
                    Result { () throws(FeedError) in try FeedRecord.parse(buffer, into: &shared) }
                })
            // A refused line leaves nothing of itself behind (its topic was appended already).
            if written.last! == nil { #expect(shared == before) }
        }
        #expect(String(decoding: shared.prefix(13), as: UTF8.self) == "earlier bytes")
        for (record, result) in zip(written, placed) {
            switch (record, result) {
            case (let record?, .success(let at)):
                #expect(String(decoding: shared[at.topic], as: UTF8.self) == record.topic)
                #expect(Array(shared[at.payload]) == record.payload)
                #expect(at.time == record.time && at.qos == record.qos && at.retain == record.retain)
            case (nil, .failure(let error)): #expect(error.description.contains("bad escape"))
            default: Issue.record("\(String(describing: record)) parsed as \(result)")
            }
        }
        // The bad lines: i = 5 + 11k for k = 0...44.
        #expect(placed.filter { (try? $0.get()) == nil }.count == 45)
    }

    @Test(
        "a line in the form parkd writes, and any line near it, reads the same as through the general reader (property)"
    )
    func writtenFormAgrees() {
        // `parse` first tries `placeWritten`, which reads only `{"t":…,"topic":"…","payload":"…"}`
        // without looking up keys, and falls back to `placeAny`. Lines made from that form and
        // then damaged at random must give `placeAny`'s record, or its error, exactly.
        var random = SeededRandom(seed: 26)
        let times = [
            "1795400000.125", "1795400000", "0", "0.5", "-1", "01", "1e9", "1795400000000", "1.", "99999999999",
        ]
        let topics = ["parks/p/z/energy/power/m1", "", "a b", #"parks/\u00e9/z"#, #"q\"uote"#, "é水😀", #"bad\q"#]
        let payloads = [
            #"{\"value\":1.5,\"ts\":1795400000000}"#, "", "x", #"\\n\/\u0041"#, #"\uD83D\uDE00"#, #"\q"#,
            #"{\"value\":870.47,\"ts\":1795400000000,\"unit\":\"kW\",\"status\":\"ok\",\"seq\":1}"#,
            #"abcdefghijklmnopqrstuvwxyz\\"#, #"tab\tand\"end\b\f\r"#,
        ]
        let noise: [UInt8] = [0x20, 0x22, 0x5C, 0x2C, 0x7D, 0x7B, 0x3A, 0x30, 0x0D, 0xFF, 0x65]
        var fast = 0
        for i in 0..<20_000 {
            var line = Array(
                (#"{"t":\#(times.randomElement(using: &random)!),"topic":"\#(topics.randomElement(using: &random)!)","#
                    + #""payload":"\#(payloads.randomElement(using: &random)!)"}"#).utf8)
            // Two lines in three damaged once or twice: a byte put in, taken out or changed.
            for _ in 0..<(i % 3 == 0 ? 0 : Int.random(in: 1...2, using: &random)) {
                let at = Int.random(in: 0...line.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: line.insert(noise.randomElement(using: &random)!, at: at)
                case 1 where at < line.count: line.remove(at: at)
                default: if at < line.count { line[at] = noise.randomElement(using: &random)! }
                }
            }
            line.withUnsafeBufferPointer { buffer in
                var viaParse: [UInt8] = []
                var viaAny: [UInt8] = []
                var probe: [UInt8] = []
                if FeedRecord.placeWritten(buffer, into: &probe) != nil { fast += 1 }
                let parsed = Result { () throws(FeedError) in try FeedRecord.parse(buffer, into: &viaParse) }
                let general = Result { () throws(FeedError) in try FeedRecord.placeAny(buffer, into: &viaAny) }
                switch (parsed, general) {
                case (.success(let a), .success(let b)):
                    #expect(a == b && viaParse == viaAny, "\(String(decoding: line, as: UTF8.self))")
                case (.failure(let a), .failure(let b)):
                    #expect(a == b && viaParse.isEmpty, "\(String(decoding: line, as: UTF8.self))")
                default:
                    Issue.record("\(String(decoding: line, as: UTF8.self)): \(parsed) beside \(general)")
                }
            }
        }
        // The fast form must have been taken often (2 322 times with this seed), or this
        // checks nothing of it.
        #expect(fast > 1_000, "the written form was read \(fast) times")
    }

    @Test(
        "bad lines are refused with the reason",
        arguments: [
            ("not json", "a feed line must be a JSON object"),
            (#"{"t":1795400000,"topic":"a","payload":"x"} trailing"#, "text after"),
            (#"{"topic":"a","payload":"x"}"#, "'t' must be"),
            (#"{"t":1795400000,"payload":"x"}"#, "'topic' must be"),
            (#"{"t":1795400000,"topic":"a"}"#, "no 'payload'"),
            (#"{"t":1795400000,"topic":"a","payload":"x","payload_b64":"eA=="}"#, "both"),
            (#"{"t":1795400000,"topic":"a","payload_b64":"%%%"}"#, "not valid base64"),
            (#"{"t":1795400000,"topic":"a","payload":"x","qos":5}"#, "'qos' must be"),
            (#"{"t":1795400000000,"topic":"a","payload":"x"}"#, "epoch seconds"),
        ])
    func badLines(line: String, reason: String) {
        let error = #expect(throws: FeedError.self) { try FeedRecord.parse(line: Array(line.utf8)) }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }
}
