import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire
import Yams

/// parkd's configuration: one YAML file, parsed into typed values with defaults.
/// Relative paths are taken from the configuration file's directory.
public struct DaemonConfiguration: Sendable, Equatable {
    public struct Broker: Sendable, Equatable {
        public var url: BrokerURL
        /// Further brokers tried in turn (`urls:` beyond the first).
        public var fallbackURLs: [BrokerURL] = []
        public var protocolVersion: MQTTClientConfiguration.ProtocolVersion = .v311
        public var clientID = "parkd"
        public var keepAlive = 30
        /// Seconds a TCP connection may take before the address counts as unreachable.
        public var connectTimeout = 10.0
        public var username: String?
        /// Where the password comes from, shown in the effective configuration instead of it.
        public var passwordSource: String?
        public var password: Secret?
        public var tls: MQTTClientConfiguration.TLS?
        public var cleanSession = false
        public var sessionExpiry: Double = 7 * 86400
        public var reconnectInitial = 0.5
        public var reconnectMaximum = 30.0
        /// Long enough for sensors that report every 15 minutes (a shorter default recycled
        /// their connection between reports).
        public var watchdog: Double? = 3600
        /// What is risky but allowed (a secret file others can read, a password in plain text
        /// to another machine): logged at start and printed by check-config.
        public var warnings: [String] = []
    }

    /// Every warning of the configuration, its brokers' included.
    public var warnings: [String] {
        broker.warnings + (uplink?.broker.warnings ?? []) + ruleWarnings + (feed?.warnings ?? [])
    }
    /// The sensor figures for Prometheus (`prometheus:`), if configured.
    public var sensorMetrics: SensorMetricsConfiguration?
    /// The Sparkplug B host's settings (`sparkplug:`), if configured.
    public var sparkplug: SparkplugConfiguration?
    /// The regulator feed (`regulator_feed:`), if configured.
    public var feed: RegulatorFeedConfiguration?
    /// Rules that judge nothing because the sites they apply to are not declared.
    public var ruleWarnings: [String] = []

    public struct Payload: Sendable, Equatable {
        public var maxBytes = 65536
        public var fields = JSONReadingDecoder.FieldNames()
    }

    public struct FieldPath: Sendable, Equatable {
        public var name: String
        public var path: [String]
    }

    /// A topic pattern as configured, with its payload format.
    public struct Topic: Sendable, Equatable {
        public var pattern: TopicPattern
        public var format: PayloadFormat = .json
        /// LoRaWAN formats: reading name → path inside the decoded object.
        public var fieldPaths: [FieldPath] = []
        public var paths: [(name: String, path: [String])] {
            get { fieldPaths.map { ($0.name, $0.path) } }
            set { fieldPaths = newValue.map { FieldPath(name: $0.name, path: $0.path) } }
        }
        public var kinds: [String: String] = [:]
        /// A Sparkplug B route (`- sparkplug: {...}`): the host stage names the series.
        public var sparkplug: SparkplugMapping?
    }

    public struct Summaries: Sendable, Equatable {
        public var path: String
        /// Per-series detail (every reporting series' windows), one line per series per
        /// shortest interval; off unless asked for, since it grows with the sensors.
        public var seriesPath: String?
        /// One schedule per interval, shortest first: a line every minute, hour and day by default.
        public var intervals: [Double] = [60, 3600, 86400]
        /// Offset of the park's local time from UTC, in minutes (UTC+7 by default).
        public var utcOffsetMinutes = LocalCalendar.defaultOffsetMinutes
        public var rotation = FileRotation()
        /// Publish each summary line here (QoS 1, retained: a newcomer gets the latest).
        public var mqttTopic: String?
        /// Compliance records (regulatory limits on completed clock hours, days and years).
        public var compliancePath: String?
        /// Publish each compliance record here (QoS 1; `{park}` and `{rule}` are filled in).
        public var complianceTopic: String?
        /// Revisions and time weighting of compliance periods (`compliance.revise_within`,
        /// `compliance.sampling_interval`); their lateness is the top-level `lateness`.
        public var compliancePolicy = CompliancePolicy()
    }

    /// The gateway's history store (SQLite under state_dir by default).
    public struct History: Sendable, Equatable {
        /// nil: no history (`history: {path: off}`).
        public var path: String?
        /// Per-series rollups at this resolution (5 minutes by default).
        public var resolutionMilliseconds: Int64 = 300_000
        public var retention = HistoryRetention()
        /// Daily reports written after each local midnight (nil: none): the folder, and PDF too.
        public var reportsDirectory: String?
        public var reportsPDF = true
    }

    public var file: String
    public var broker: Broker
    public var history = History()
    /// The durable uplink to the province (nil: nothing leaves the gateway but MQTT outputs).
    public var uplink: Uplink?
    public var subscriptions: [MQTTClientConfiguration.Subscription] = [.init("parks/#", qos: .atLeastOnce)]
    public var topics: [Topic]
    public var payload = Payload()
    public var windows = WindowSpec.defaults()
    /// Windows whose buckets keep quantile sketches (`quantiles: true`), besides those a rule
    /// reads p50/p95/p99 from: sketches cost most of a bucket's memory.
    public var quantileWindows: Set<String> = []
    /// Windows that keep full detail (`detail: true`: min, max, std, rate, first and last,
    /// counter increase), besides those a rule reads them from; the others keep count, sum
    /// and mean, 32 bytes a bucket instead of 104. Counter series always keep full detail.
    public var detailWindows: Set<String> = []
    /// Windows a rule pack needed and the configuration lacked, by name: the pack's path.
    public var addedWindows: [String: String] = [:]
    public var latenessSeconds = 300.0
    public var validity = ValidityRule()
    public var catalog = SensorCatalog.standard
    /// Kinds defined or overridden in this file, shown in the effective configuration.
    public var catalogChanges: [KindInfo] = []
    public var summaries: Summaries
    /// What one sender may cost (`limits:`), with its defaults.
    public var limits = IngestPipeline.Limits()
    public var maxSeries: Int { limits.maxSeries }
    public var logLevel = "info"
    public var rules: [Rule] = []
    /// Rule-pack files the rules came from, for the effective configuration.
    public var ruleFiles: [String] = []
    /// The file's own `rules:` entries as written (one line of flow YAML each), so the printed
    /// configuration carries them and reads back the same.
    public var inlineRules: [String] = []
    /// Sensors that should report: a stale rule fires for them even if they never have.
    public var expectedSensors: [SeriesID] = []
    public var alerts: Alerts
    /// Where parkd keeps what must survive a restart (active alerts).
    public var stateDirectory: String
    /// How often window state is snapshotted (and at shutdown): what a crash can lose at most.
    public var snapshotInterval: Double = 60
    /// The HTTP endpoint (/metrics, /healthz, /api/...); loopback by default, nil when off.
    public var listen: HTTPListen? = HTTPListen(host: "127.0.0.1", port: 9108)
    /// /healthz and /metrics on a listener of their own (`http.probes`), or nil.
    public var probeListen: HTTPListen?
    /// Park facts for summaries: area and green-area target.
    public var parks: [String: ParkSite] = [:]
    /// Energy meters' roles from the inventory (`expected_sensors[].role`).
    public var meterRoles: [SeriesID: MeterRole] = [:]
    /// Dated time-of-use schedules; empty: EVN's 2014 periods.
    public var tariffs: [TariffSchedule] = []

    public struct Alerts: Sendable, Equatable {
        /// JSON Lines, one alert transition a line.
        public var path: String
        /// One readable line per transition, for operators.
        public var log: String?
        public var rotation = FileRotation()
        /// Publish each transition here (QoS 1); `{park}`, `{pillar}`, `{severity}`, `{rule}` are filled in.
        public var mqttTopic: String?
    }

    /// Configuration and rule files are small: a device, a FIFO or a huge file named by
    /// mistake is refused before it is read (reading `/dev/zero` would never end).
    package static let maxFileBytes = 4 << 20

    package static func readSmallFile(_ path: String) -> (data: Data?, problem: String?) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            return (
                nil,
                FileManager.default.fileExists(atPath: path) ? "cannot read the file (permissions?)" : "no such file"
            )
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else { return (nil, "not a regular file") }
        guard (attributes[.size] as? Int ?? 0) <= maxFileBytes else {
            return (nil, "larger than \(maxFileBytes >> 20) MiB; not a configuration file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return (nil, "cannot read the file (permissions?)")
        }
        return (data, nil)
    }

    public static func load(path: String) throws(ConfigurationError) -> DaemonConfiguration {
        try parse(try readText(path), file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> DaemonConfiguration {
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        return try ConfigurationParser(file: file, directory: directory).parse(try compose(text, file: file))
    }

    /// A configuration file's text: small, regular and UTF-8, or an error naming the file.
    package static func readText(_ path: String) throws(ConfigurationError) -> String {
        let (read, problem) = readSmallFile(path)
        guard let data = read else {
            throw ConfigurationError(file: path, keyPath: "", message: problem ?? "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, keyPath: "", message: "the file is not UTF-8 text")
        }
        return text
    }

    /// The YAML tree of `text`, errors naming `file` (every configuration and rule file).
    package static func compose(_ text: String, file: String) throws(ConfigurationError) -> YAMLValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(file: file, keyPath: "", message: "not valid YAML: \(error)")
        }
        guard let node else { throw ConfigurationError(file: file, keyPath: "", message: "the file is empty") }
        return YAMLValue(node: node, path: "", file: file)
    }
}
