import BrokerHarness
import Foundation
import MQTTClient
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

@Suite("Daemon configuration")
struct DaemonConfigurationTests {
    func parse(_ yaml: String) throws(ConfigurationError) -> DaemonConfiguration {
        try DaemonConfiguration.parse(yaml, file: "/etc/parkd/parkd.yaml")
    }

    @Test("a minimal file gets every default")
    func defaults() throws {
        let c = try parse("broker:\n  url: mqtt://127.0.0.1\n")
        #expect(c.broker.url == BrokerURL(host: "127.0.0.1", port: 1883, usesTLS: false))
        #expect(c.broker.protocolVersion == .v311)
        #expect(c.broker.cleanSession == false)
        #expect(c.broker.watchdog == 3600)
        #expect(c.subscriptions == [.init("parks/#", qos: .atLeastOnce)])
        #expect(c.topics.map(\.pattern.text) == ["parks/{park}/{zone}/{pillar}/{kind}/{sensor}"])
        #expect(c.topics.map(\.format) == [.json])
        #expect(c.windows.map(\.name) == ["1m", "15m", "1h", "24h"])
        #expect(c.latenessSeconds == 300)
        // Outputs default into state_dir (writable), not beside the read-only configuration.
        #expect(c.stateDirectory == "/etc/parkd/state")
        #expect(c.summaries.path == "/etc/parkd/state/summaries.jsonl")
        #expect(c.alerts.path == "/etc/parkd/state/alerts.jsonl")
        // The default windows follow the park's local time.
        let utc = try parse("broker: {url: mqtt://127.0.0.1}\nsummaries: {utc_offset: \"+00:00\"}\n")
        #expect(utc.windows.map(\.alignOffsetMilliseconds) == [0, 0, 0, 0])
        #expect(c.windows.map(\.alignOffsetMilliseconds) == Array(repeating: 420 * 60_000, count: 4))
        #expect(c.summaries.intervals == [60, 3600, 86400])  // every minute, hour and day
        #expect(c.summaries.utcOffsetMinutes == 420)
        #expect(c.payload.maxBytes == 65536)
        #expect(c.maxSeries == 100_000)
    }

    @Test("every setting is read")
    func full() throws {
        let c = try parse(
            """
            broker:
              url: mqtts://gateway.local:8884
              protocol: "5"
              client_id: parkd-bb
              keepalive: 1m
              clean_session: no
              session_expiry: 2d
              reconnect: {initial: 250ms, max: 2m}
              watchdog: off
            subscriptions:
              - {filter: "parks/bau-bang/#", qos: 0}
              - filter: "application/+/device/+/event/up"
            topics:
              - pattern: "application/+/device/{sensor}/event/up"
                fixed: {park: bau-bang, zone: lora, pillar: green, kind: soil_moisture}
              - pattern: "parks/{park}/{zone}/{pillar}/{kind}/{sensor}"
            payload:
              max_bytes: 4096
              fields: {value: v, ts: time}
            summaries: {path: out/s.jsonl, interval: 15m, utc_offset: "+05:30"}
            limits: {max_series: 500}
            log: {level: debug}
            """)
        #expect(c.broker.url.usesTLS && c.broker.url.port == 8884)
        #expect(c.broker.protocolVersion == .v5)
        #expect(c.broker.keepAlive == 60)
        #expect(c.broker.sessionExpiry == 172_800)
        #expect(c.broker.reconnectInitial == 0.25 && c.broker.reconnectMaximum == 120)
        #expect(c.broker.watchdog == nil)
        #expect(c.subscriptions.map(\.qos) == [.atMostOnce, .atLeastOnce])
        #expect(c.topics.count == 2)
        #expect(c.topics[0].pattern.match("application/1/device/abc/event/up")?.park == "bau-bang")
        #expect(c.payload.fields.value == "v" && c.payload.fields.time == "time")
        #expect(c.summaries.path == "/etc/parkd/out/s.jsonl")
        #expect(c.summaries.intervals == [900])
        #expect(c.summaries.utcOffsetMinutes == 330)
        #expect(c.maxSeries == 500)
        #expect(c.logLevel == "debug")
    }

    @Test(
        "errors name the file, the line, the key and what was expected",
        arguments: [
            ("broker:\n  url: mqtt://h\n  kepalive: 30s\n", "parkd.yaml:3: broker.kepalive: unknown key"),
            ("broker:\n  url: mqtt://h\n  keepalive: soon\n", "broker.keepalive: expected a duration"),
            ("broker:\n  url: mqtt://h\n  keepalive: 2s\n", "broker.keepalive: 2s is out of range"),
            ("broker:\n  url: http://h\n", "parkd.yaml:2: broker.url: broker URL 'http://h' has scheme 'http'"),
            ("summaries:\n  path: x\n", "missing 'broker'"),
            ("broker:\n  url: mqtt://h\n  protocol: 4.0\n", "broker.protocol: expected 3.1.1, 5 or auto"),
            ("broker:\n  url: mqtt://h\nhttp: {probes: 9109}\n", "http.probes: expected host:port"),
            (
                "broker:\n  url: mqtt://h\nhttp: {listen: 127.0.0.1:9108, probes: 127.0.0.1:9108}\n",
                "http.probes: is the same address as http.listen"
            ),
            ("broker:\n  url: mqtt://h\nsubscriptions:\n  - {filter: 'a/#/b'}\n", "subscriptions[0].filter:"),
            (
                "broker:\n  url: mqtt://h\nsubscriptions:\n  - {filter: 'a', qos: 2}\n",
                "subscriptions[0].qos: 2 is out of range"
            ),
            ("broker:\n  url: mqtt://h\ntopics:\n  - pattern: 'a/{park}'\n", "topics[0].pattern: no {zone}"),
            (
                "broker:\n  url: mqtt://h\nsummaries:\n  utc_offset: Asia/Ho_Chi_Minh\n",
                "summaries.utc_offset: expected an offset"
            ),
            ("broker:\n  url: mqtt://h\nlimits:\n  max_series: -1\n", "limits.max_series: -1 is out of range"),
            ("broker:\n  url: mqtt://h\nlog: {level: loud}\n", "log.level: expected one of"),
            ("broker:\n  url: mqtt://h\n  password_env: PARKD_TEST_UNSET_VARIABLE\n", "PARKD_TEST_UNSET_VARIABLE"),
            (
                "broker:\n  url: mqtt://h\n  password_file: /nonexistent/pw\n",
                "cannot read password file '/nonexistent/pw'"
            ),
            ("broker:\n  url: mqtt://h\n  tls: {ca_file: /nonexistent/ca.pem}\n", "broker.tls.ca_file: cannot read"),
            ("broker: [1, 2]\n", "broker: expected a mapping, found a list"),
            ("broker:\n  url: mqtt://h\n  url: mqtt://g\n", "duplicated key(s): 'url'"),
            ("broker: {url: mqtt://h\n", "not valid YAML"),
            ("", "the file is empty"),
        ])
    func errors(yaml: String, expected: String) {
        let error = #expect(throws: ConfigurationError.self) { try parse(yaml) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("/etc/parkd/parkd.yaml"), "\(text)")
        #expect(text.contains(expected), "\(text)")
    }

    @Test("payload formats, windows, lateness and catalog entries")
    func formatsWindowsCatalog() throws {
        let c = try parse(
            """
            broker: {url: mqtt://h}
            topics:
              - pattern: "application/+/device/{sensor}/event/up"
                fixed: {park: p, zone: lora, pillar: green, kind: soil}
                format: chirpstack
                paths: {soil_moisture: soil.moisture, air_temperature: temp}
              - pattern: "influx/{park}/{zone}/{pillar}/{kind}/{sensor}"
                format: line
                kinds: {pm2_5: pm25}
            windows:
              - {name: 5m, length: 5m, bucket: 1m}
              - {length: 1d, bucket: 1h}
            lateness: 2m
            validity: {quarter_hours: 2, hours: 20}
            catalog:
              - {kind: chlorine, pillar: emissions, unit: mg/L, min: 0, max: 50}
              - {kind: pm25, max: 1500}
            """)
        #expect(c.topics.map(\.format) == [.chirpstack, .line])
        #expect(c.topics[0].paths.map(\.name) == ["air_temperature", "soil_moisture"])
        #expect(c.topics[0].paths.last?.path == ["soil", "moisture"])
        #expect(c.topics[1].kinds == ["pm2_5": "pm25"])
        #expect(c.windows.map(\.name) == ["5m", "1d"])
        #expect(c.windows[1].bucketCount == 24)
        #expect(c.windows[1].alignOffsetMilliseconds == 7 * 3_600_000)
        #expect(c.latenessSeconds == 120)
        #expect(c.validity == ValidityRule(minQuarterHours: 2, minHours: 20))
        #expect(c.catalog["chlorine"] == KindInfo("chlorine", .emissions, "mg/L", 0...50))
        #expect(c.catalog["pm25"]?.range == 0...1500)
        #expect(c.catalog["pm25"]?.unit == "ug/m3")
        let again = try parse(c.effectiveYAML)
        #expect(again.effectiveYAML == c.effectiveYAML)
    }

    @Test(
        "format, window and catalog errors name their key",
        arguments: [
            (
                "topics:\n  - {pattern: 'a/{park}/{zone}/{pillar}/{kind}/{sensor}', format: xml}\n",
                "topics[0].format: expected one of json"
            ),
            (
                "topics:\n  - {pattern: 'a/{park}/{zone}/{pillar}/{kind}/{sensor}', paths: {a: b}}\n",
                "topics[0].paths: paths apply to"
            ),
            (
                "windows:\n  - {length: 1h, bucket: 7m}\n",
                "windows[0]: window 1h: length must be a whole number of buckets"
            ),
            ("windows:\n  - {length: 1h}\n", "windows[0]: a window needs length and bucket"),
            (
                "windows:\n  - {name: a, length: 1h, bucket: 1m}\n  - {name: a, length: 2h, bucket: 1h}\n",
                "window names must differ"
            ),
            ("catalog:\n  - {kind: chlorine}\n", "catalog[0]: a new kind needs its pillar"),
            ("catalog:\n  - {kind: pm25, min: 10, max: 1}\n", "min 10.0 is above max 1.0"),
            ("catalog:\n  - {kind: pm25, shape: level}\n", "catalog[0].shape: expected gauge or counter"),
            ("lateness: forever\n", "lateness: expected a duration"),
            ("summaries: {interval: 1m, intervals: [1h]}\n", "give interval or intervals"),
            ("summaries: {intervals: [1h, 60m]}\n", "intervals must differ"),
            (
                "summaries: {intervals: [1s, 5s, 10s, 1m, 5m, 15m, 1h, 6h, 1d]}\n",
                "summaries.intervals: at most 8 intervals (9 given)"
            ),
            ("validity: {quarter_hours: 5}\n", "validity.quarter_hours: 5 is out of range"),
        ])
    func newKeyErrors(yaml: String, expected: String) {
        let error = #expect(throws: ConfigurationError.self) { try parse("broker: {url: mqtt://h}\n" + yaml) }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("a missing file says so")
    func missingFile() {
        let error = #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.load(path: "/nonexistent/parkd.yaml")
        }
        #expect(error?.description == "/nonexistent/parkd.yaml: no such file")
    }

    @Test("the password comes from a file or the environment and never shows")
    func passwordMasked() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parkd-pw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "correct-horse\n".write(
            to: directory.appendingPathComponent("broker.pass"), atomically: true, encoding: .utf8)
        let c = try DaemonConfiguration.parse(
            "broker:\n  url: mqtt://h\n  username: parkd\n  password_file: broker.pass\n",
            file: directory.appendingPathComponent("parkd.yaml").path)
        #expect(c.broker.password?.value == "correct-horse")
        #expect(c.clientConfiguration.password?.value == "correct-horse")
        #expect(!c.effectiveYAML.contains("correct-horse"))
        // The printed file names where the password comes from, so it reads back the same.
        #expect(
            c.effectiveYAML.contains(
                "password_file: \(directory.appendingPathComponent("broker.pass").path)  # password redacted"))
        #expect(try DaemonConfiguration.parse(c.effectiveYAML, file: c.file) == c)
        #expect(!"\(c)".contains("correct-horse"))

        setenv("PARKD_TEST_PASSWORD", "battery-staple", 1)
        let e = try parse("broker:\n  url: mqtt://h\n  username: parkd\n  password_env: PARKD_TEST_PASSWORD\n")
        #expect(e.broker.password?.value == "battery-staple")
        #expect(!e.effectiveYAML.contains("battery-staple"))
    }

    @Test("the effective configuration parses back to the same settings")
    func effectiveRoundTrip() throws {
        let c = try parse(
            "broker: {url: mqtt://h:1999, protocol: '5', watchdog: 90s}\nsummaries: {interval: 5m, path: /var/s.jsonl}\n"
        )
        let again = try DaemonConfiguration.parse(c.effectiveYAML, file: "/etc/parkd/parkd.yaml")
        #expect(
            again.effectiveYAML.replacingOccurrences(of: "/etc/parkd/parkd.yaml", with: "")
                == c.effectiveYAML.replacingOccurrences(of: "/etc/parkd/parkd.yaml", with: ""))
        #expect(again.broker.watchdog == 90)
    }

    @Test("risky but allowed: a secret file others can read, a password in plain text to another machine")
    func warnings() throws {
        let directory = try Scratch.makeDirectory(prefix: "config-warnings")
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("broker.pass").path
        try "pw\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("parkd.yaml").path
        func parse(_ url: String, mode: Int) throws -> DaemonConfiguration {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: secret)
            return try DaemonConfiguration.parse(
                "broker: {url: \"\(url)\", username: parkd, password_file: broker.pass}\n", file: file)
        }
        #expect(try parse("mqtt://127.0.0.1:1883", mode: 0o600).warnings.isEmpty)
        let open = try parse("mqtt://127.0.0.1:1883", mode: 0o644)
        #expect(open.warnings == ["password file \(secret) is readable beyond its owner (mode 644): chmod 600 it"])
        #expect(open.effectiveYAML.contains("# warning: password file \(secret) is readable beyond its owner"))
        let plain = try parse("mqtt://broker.example:1883", mode: 0o600)
        #expect(plain.warnings.count == 1 && plain.warnings[0].contains("plain text to mqtt://broker.example:1883"))
        #expect(try parse("mqtts://broker.example:8883", mode: 0o600).warnings.isEmpty)
    }
}

@Suite("What windows keep")
struct WindowKeepingTests {
    @Test("windows are lean unless configured or read: detail and quantiles follow the rules that read them")
    func masks() throws {
        let c = try DaemonConfiguration.parse(
            """
            broker: {url: mqtt://127.0.0.1}
            summaries: {series_path: detail.jsonl}
            windows:
              - {name: 1m, length: 1m, bucket: 15s}
              - {name: 15m, length: 15m, bucket: 5m, quantiles: true}
              - {name: 1h, length: 1h, bucket: 15m}
              - {name: 24h, length: 24h, bucket: 1h, detail: true}
            rules:
              - {id: mean, match: {kind: pm25}, when: {window: 1m, stat: mean, above: 1}}
              - {id: stuck, flatline: {window: 1h, spread: 0, min_count: 10}}
              - {id: p95, match: {kind: noise}, when: {window: 1h, stat: p95, above: 80}}
            """, file: "/etc/parkd/parkd.yaml")
        // A mean keeps 1m lean; flatline (min, max) details 1h; p95 sketches 1h; 24h is configured.
        #expect(c.detailMask == 0b1100)
        #expect(c.quantileMask == 0b0110)
        #expect(c.summaries.seriesPath == "/etc/parkd/detail.jsonl")
        let settings = c.pipelineSettings
        #expect(settings.detailWindows == 0b1100 && settings.quantileWindows == 0b0110)
        // The printed configuration says what results, and reads back the same.
        let printed = c.effectiveYAML
        #expect(
            printed.contains(
                "{name: 1h, length: 1h, bucket: 15m, detail: false, quantiles: false}  # rules read it: detail and quantiles kept"
            ))
        #expect(printed.contains("{name: 1m, length: 1m, bucket: 15s, detail: false, quantiles: false}\n"))
        #expect(printed.contains("{name: 24h, length: 1d, bucket: 1h, detail: true, quantiles: false}\n"))
        #expect(printed.contains("series_path: /etc/parkd/detail.jsonl"))
        let again = try DaemonConfiguration.parse(printed, file: "/etc/parkd/parkd.yaml")
        #expect(again.detailMask == c.detailMask && again.quantileMask == c.quantileMask)
        #expect(again == c)
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.parse(
                "broker: {url: mqtt://127.0.0.1}\nwindows: [{name: 1m, length: 1m, bucket: 15s, detail: maybe}]\n",
                file: "/x.yaml")
        }
    }
}
