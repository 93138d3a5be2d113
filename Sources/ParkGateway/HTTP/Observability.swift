import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import MQTTClient
import Metrics
import NIOPosix
import ParkConfig
import ParkIngest
import Prometheus
import ServiceSupport
import Synchronization
import TelemetryCore
import UplinkWire

/// What the HTTP endpoint reads: the pipeline, the broker connection and the daemon's own
/// bookkeeping. Metrics are brought up to date when scraped, so ingest never pays for them.
/// Everything it keeps is in one `Mutex`; the pipeline and the writers have locks of their own.
public final class Observability: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let pipeline: IngestPipeline

    /// What the endpoint reports from the configuration in force: set at start and by every
    /// reload, so /healthz and the status page never show a configuration that was replaced.
    package struct Settings: Sendable, Equatable {
        /// The broker's address, for the status page.
        package var broker = ""
        /// /healthz fails after this long without traffic (the broker's watchdog).
        package var trafficTimeout: Double?
        /// The park's local time, for times the API writes.
        package var utcOffsetMinutes = LocalCalendar.defaultOffsetMinutes
        package var historyPath: String?
        package var historyResolution: Int64 = 300_000
        /// The sensor figures' exposition (`prometheus:`), its window names and the rules' severities.
        package var sensorMetrics: SensorMetricsConfiguration?
        package var windows: [String] = []
        package var severities: [String: Severity] = [:]

        package init() {}

        package init(_ configuration: DaemonConfiguration) {
            broker = "\(configuration.broker.url)"
            trafficTimeout = configuration.broker.watchdog
            utcOffsetMinutes = configuration.summaries.utcOffsetMinutes
            historyPath = configuration.history.path
            historyResolution = configuration.history.resolutionMilliseconds
            sensorMetrics = configuration.sensorMetrics
            windows = configuration.windows.map(\.name)
            for rule in configuration.rules { severities[rule.id] = rule.severity }
        }
    }

    private struct State {
        var settings = Settings()
        var client: MQTTClient?
        var last = IngestPipeline.Status(
            totals: .init(), series: 0, firingAlerts: 0, alertQueue: 0, transitions: [:], seriesEvicted: 0)
        var lastClient: MQTTClient.Statistics?
        var lastTrafficAt = WallClock.now()
        var lastReceived: UInt64 = 0
        var snapshotAt: EventTime?
        var lastSummary: String?
        /// The last error of each output that is failing now (alerts, summaries, state); an
        /// output leaves this as soon as it writes again.
        var sinkErrors: [String: String] = [:]
        /// The history store's reader for /api/history (opened on first use).
        var historyReader: HistoryReader?
        var historyWriter: HistoryWriter?
        var lastHistory = (written: 0, dropped: 0)
        var uplink: UplinkSender?
        var feed: RegulatorFeed?
        var lastFeed = RegulatorFeed.Status()
        /// Sparkplug counts at the last scrape, by "skipped/<reason>" and "event/<event>".
        var lastSparkplug: [String: Int] = [:]
        var lastUplink = UplinkSender.Status()
        var lastOutboxDropped = 0
        /// Per park and pillar, its latest summary entry with readings in it (the status page's tiles).
        var tiles: [String: StatusPage.Tile] = [:]
        /// Per park, pillar and summary interval, its latest summary entry with readings.
        var parks: [String: (interval: String, park: ParkSummary)] = [:]
        /// Whether the exposition's series cap was logged (once, until the count is under it).
        var capLogged = false
        /// The latest compliance records (at most `recentComplianceLimit`), oldest first.
        var recentCompliance: [(record: ComplianceRecord, line: String)] = []
        /// The latest record of each (rule, station, averaging period), for the sensor
        /// figures: kept apart from the log above, out of which a day's record of one station
        /// would scroll before the next among many stations' hourly ones.
        var latestCompliance = LatestCompliance()
    }

    private let state = Mutex(State())

    private let logger: Logger

    /// The sensor figures' text as last built, and when. Held while a build runs, so scrapes
    /// that come together wait for one build instead of each reading every series.
    private let sensorCache = Mutex<(text: String?, at: ContinuousClock.Instant, builds: Int, current: Bool)?>(nil)
    /// How long a built sensor text is served again. Building it reads every series (a
    /// chunk at a time under the pipeline's lock), so scrapers and a client hammering the
    /// path cost at most one build a second, whatever their number.
    package let sensorCacheSeconds: Double

    public init(
        pipeline: IngestPipeline, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger = Logger(label: "parkd"), sensorCacheSeconds: Double = 1
    ) {
        self.pipeline = pipeline
        self.registry = registry
        self.logger = logger
        self.sensorCacheSeconds = sensorCacheSeconds
    }

    /// Sensor texts built so far (for tests: the cache is what keeps this low).
    package var sensorBuilds: Int { sensorCache.withLock { $0?.builds ?? 0 } }

    /// The sensor figures in Prometheus' format (`prometheus:`), or nil when not configured.
    /// The pipeline's series are read a chunk at a time under its lock and formatted outside it.
    package func sensorMetrics() -> String? {
        sensorCache.withLock { cache in
            if let cache, cache.current, .now - cache.at < .seconds(sensorCacheSeconds) { return cache.text }
            let text = buildSensorMetrics()
            // Timed from the end of the build: scrapes that waited for it take it, however
            // long it took (stamped at its start, a build over a second sent each waiter to build again).
            cache = (text, .now, (cache?.builds ?? 0) + 1, true)
            return text
        }
    }

    private func buildSensorMetrics() -> String? {
        let (settings, parks, compliance) = state.withLock { s in
            (
                s.settings, s.parks.sorted { $0.key < $1.key }.map(\.value),
                s.latestCompliance.records
            )
        }
        guard let configuration = settings.sensorMetrics else { return nil }
        let exposition = SensorExposition(settings: configuration, windows: settings.windows)
        let view = exposition.view(of: pipeline)
        let alerts = pipeline.firingAlerts.map { alert in
            (
                rule: alert.rule, severity: settings.severities[alert.rule] ?? .warning, series: alert.series,
                since: alert.since
            )
        }
        let output = exposition.build(series: view, parks: parks, compliance: compliance, alerts: alerts)
        let log = state.withLock { s -> Bool in
            defer { s.capLogged = output.dropped > 0 }
            return output.dropped > 0 && !s.capLogged
        }
        if log {
            logger.warning(
                "the sensor exposition shows \(output.exposed) of \(output.exposed + output.dropped) series (prometheus.max_series); the rest are left out and counted in parkd_sensor_exposition_dropped_series"
            )
        }
        return output.text
    }

    package var settings: Settings { state.withLock { $0.settings } }
    package func apply(_ settings: Settings) {
        state.withLock { $0.settings = settings }
        // A reload may change what is shown: the next scrape builds afresh.
        sensorCache.withLock { $0?.current = false }
    }
    package var brokerText: String { settings.broker }
    package var trafficTimeout: Double? { settings.trafficTimeout }
    public var utcOffsetMinutes: Int { settings.utcOffsetMinutes }
    package var historyResolution: Int64 { settings.historyResolution }

    package func attach(uplink: UplinkSender?) { state.withLock { $0.uplink = uplink } }
    package func attach(feed: RegulatorFeed?) { state.withLock { $0.feed = feed } }
    package func attach(history: HistoryWriter?) { state.withLock { $0.historyWriter = history } }
    package func attach(_ client: MQTTClient) { state.withLock { $0.client = client } }

    package func reader() -> Result<HistoryReader, HistoryReader.Failure> {
        state.withLock { s in
            if let historyReader = s.historyReader { return .success(historyReader) }
            guard let historyPath = s.settings.historyPath else {
                return .failure(.init(description: "this parkd keeps no history (history.path: off)"))
            }
            do throws(HistoryReader.Failure) {
                let opened = try HistoryReader(path: historyPath, utcOffsetMinutes: s.settings.utcOffsetMinutes)
                s.historyReader = opened
                return .success(opened)
            } catch {
                return .failure(error)
            }
        }
    }

    package var summary: String? { state.withLock { $0.lastSummary } }
    public var snapshotAt: EventTime? { state.withLock { $0.snapshotAt } }
    public var sinkErrors: [String: String] { state.withLock { $0.sinkErrors } }

    /// A summary line as written, with the values it was written from: tiles are taken from
    /// the values, never from the text.
    package func noteSummary(_ summary: SummaryLine) {
        let offset = utcOffsetMinutes
        let to = String(RFC3339.format(summary.to, offsetMinutes: offset).dropFirst(11).prefix(8))
        state.withLock { s in
            s.lastSummary = summary.text
            for park in summary.parks where park.readings > 0 {
                s.parks["\(park.park)/\(park.pillar.rawValue)/\(summary.period)"] = (summary.period, park)
                s.tiles["\(park.park)/\(park.pillar.rawValue)"] = StatusPage.Tile(
                    park: park, period: summary.period, to: to)
            }
        }
    }

    package var tiles: [StatusPage.Tile] {
        state.withLock { $0.tiles.sorted { $0.key < $1.key }.map(\.value) }
    }

    package static let recentComplianceLimit = 2000
    package static let latestComplianceLimit = 20_000

    /// One compliance record's place in the latest-of-each map.
    struct ComplianceKey: Hashable {
        var rule: String
        var series: SeriesID
        var period: CompliancePeriod
    }

    /// The latest record of each key, bounded whatever the station churn, at one hash update
    /// a record: two generations, the older dropped whole when the newer holds `limit` keys.
    /// Every key noted among the last `limit` distinct ones is kept (all of them while there are
    /// no more than `limit`); at most twice that are held. One noted again moves to the newer.
    /// (An eviction of the oldest by period end, run as records came, made 100 000 stations'
    /// hourly burst of records cost seconds a summary interval.)
    struct LatestCompliance {
        private var newer: [ComplianceKey: ComplianceRecord] = [:]
        private var older: [ComplianceKey: ComplianceRecord] = [:]

        mutating func note(_ record: ComplianceRecord, at key: ComplianceKey, limit: Int) {
            if newer.updateValue(record, forKey: key) == nil {
                older.removeValue(forKey: key)
                if newer.count >= max(1, limit) {
                    older = newer
                    newer = [:]
                }
            }
        }

        var count: Int { newer.count + older.count }
        var records: [ComplianceRecord] { Array(older.values) + Array(newer.values) }
    }

    package func noteCompliance(_ record: ComplianceRecord, line: String) {
        state.withLock { s in
            s.recentCompliance.append((record, line))
            let key = ComplianceKey(rule: record.rule, series: record.series, period: record.closed.period)
            s.latestCompliance.note(record, at: key, limit: Self.latestComplianceLimit)
            if s.recentCompliance.count > 2 * Self.recentComplianceLimit {
                s.recentCompliance.removeFirst(s.recentCompliance.count - Self.recentComplianceLimit)
            }
        }
    }

    /// How many (rule, station, period) records the sensor figures hold.
    package var latestComplianceCount: Int { state.withLock { $0.latestCompliance.count } }

    package func compliance(park: String?, rule: String?, exceededOnly: Bool, limit: Int) -> [String] {
        state.withLock { s in
            let chosen = s.recentCompliance.suffix(Self.recentComplianceLimit).filter {
                (park == nil || $0.record.series.park == park) && (rule == nil || $0.record.rule == rule)
                    && (!exceededOnly || $0.record.exceeded)
            }
            return chosen.suffix(limit).map(\.line)
        }
    }

    package func noteSnapshot(at time: EventTime) {
        state.withLock { $0.snapshotAt = time }
    }

    /// Records an output's error (nil: it writes again); returns the error it had before.
    @discardableResult
    package func noteSink(_ name: String, error: String?) -> String? {
        state.withLock { s in
            let before = s.sinkErrors[name]
            s.sinkErrors[name] = error
            return before
        }
    }

    /// Brings every metric up to date and returns the Prometheus text exposition.
    public func metrics() -> String {
        let registry = registry
        let pipeline = pipeline
        state.withLock { s in
            let status = pipeline.status
            let stats = s.client?.statistics
            func count(_ name: String, _ help: String, _ now: Int, _ before: Int, labels: [(String, String)] = []) {
                let counter = registry.makeCounter(
                    descriptor: .init(namespace: "parkd", metricName: name, unitName: "total", helpText: help),
                    labels: labels)
                if now > before { counter.increment(by: Int64(now - before)) }
            }
            func gauge(_ name: String, _ unit: String, _ help: String, _ value: Double) {
                registry.makeGauge(
                    descriptor: .init(namespace: "parkd", metricName: name, unitName: unit, helpText: help), labels: []
                )
                .set(value)
            }
            count("messages", "MQTT messages taken in", status.totals.messages, s.last.totals.messages)
            count("readings", "Readings decoded from messages", status.totals.readings, s.last.totals.readings)
            for reason in RejectReason.allCases {
                count(
                    "rejected", "Messages or readings refused, by reason", status.totals.rejected[reason, default: 0],
                    s.last.totals.rejected[reason, default: 0], labels: [("reason", reason.rawValue)])
            }
            for outcome in SeriesState.Outcome.allCases {
                count(
                    "reading_outcomes", "What became of decoded readings", status.totals.outcomes[outcome],
                    s.last.totals.outcomes[outcome], labels: [("outcome", outcome.rawValue)])
            }
            count(
                "series_evicted", "Series evicted after limits.series_ttl of silence", status.seriesEvicted,
                s.last.seriesEvicted)
            for state in [AlertTransition.State.firing, .resolved] {
                count(
                    "alert_transitions", "Alert lines written, by state", status.transitions[state, default: 0],
                    s.last.transitions[state, default: 0], labels: [("state", state.rawValue)])
            }
            gauge("alert_queue", "messages", "Alert transitions waiting for the writer", Double(status.alertQueue))
            if let stats {
                count(
                    "mqtt_reconnects", "Reconnection attempts", Int(stats.reconnects),
                    Int(s.lastClient?.reconnects ?? 0))
                count(
                    "mqtt_loop_restarts", "Network loop restarts after fatal errors", Int(stats.loopRestarts),
                    Int(s.lastClient?.loopRestarts ?? 0))
                count(
                    "mqtt_watchdog_recycles", "Silent connections recycled", Int(stats.watchdogRecycles),
                    Int(s.lastClient?.watchdogRecycles ?? 0))
                gauge("mqtt_connected", "state", "1 when connected to the broker", stats.connected ? 1 : 0)
                gauge(
                    "publish_queue", "messages", "Publishes waiting for the broker",
                    Double(stats.published &- stats.completed))
            }
            gauge("series", "count", "Series held", Double(status.series))
            gauge("alerts_firing", "count", "Alerts firing now", Double(status.firingAlerts))
            let now = WallClock.now()
            if let snapshotAt = s.snapshotAt {
                gauge(
                    "snapshot_age", "seconds", "Age of the last window snapshot",
                    Double(now.milliseconds - snapshotAt.milliseconds) / 1000)
            }
            if let newest = status.newest {
                gauge(
                    "ingest_lag", "seconds", "Wall clock minus the newest reading's time",
                    Double(now.milliseconds - newest.milliseconds) / 1000)
            }
            if let history = s.historyWriter?.status {
                count("history_rows", "Rows committed to the history store", history.written, s.lastHistory.written)
                count(
                    "history_rows_dropped", "Rows the history store lost (write errors, a writer far behind)",
                    history.dropped, s.lastHistory.dropped)
                gauge("history_pending", "rows", "Rows waiting for the history writer", Double(history.pending))
                s.lastHistory = (history.written, history.dropped)
            }
            if let u = s.uplink?.status {
                gauge("uplink_connected", "state", "1 when the uplink is connected", u.connected ? 1 : 0)
                gauge("uplink_outbox_depth", "items", "Items waiting in the uplink outbox", Double(u.depth))
                gauge(
                    "uplink_outbox_oldest_age", "seconds", "Age of the oldest item in the uplink outbox",
                    u.oldestAgeSeconds ?? 0)
                count("uplink_sent_items", "Items the province acknowledged", u.sentItems, s.lastUplink.sentItems)
                count(
                    "uplink_resent_items", "Items sent more than once (after a lost connection or a restart)",
                    u.resentItems, s.lastUplink.resentItems)
                count(
                    "uplink_unreadable_items", "Outbox rows that no longer read as an item, dropped",
                    u.unreadableItems, s.lastUplink.unreadableItems)
                count(
                    "uplink_refused_batches",
                    "Batches the broker acknowledged with a refusal (MQTT 5 reason code); their items stay queued",
                    u.refusedBatches, s.lastUplink.refusedBatches)
                let dropped = s.historyWriter?.status.outboxDropped ?? 0
                count(
                    "uplink_dropped_items", "Oldest outbox items removed to hold uplink.max_items or max_age", dropped,
                    s.lastOutboxDropped)
                s.lastUplink = u
                s.lastOutboxDropped = dropped
            }
            if let f = s.feed?.status {
                gauge(
                    "feed_pending", "files", "Regulator feed files waiting for the authority's server",
                    Double(f.pending))
                gauge(
                    "feed_oldest_pending_age", "seconds", "Age of the oldest regulator feed file not yet uploaded",
                    f.oldestPendingSeconds)
                gauge(
                    "feed_unwritten", "files", "Feed files held in memory because the disk refused them",
                    Double(f.unwritten))
                count("feed_files_written", "Regulator feed cycle files written", f.written, s.lastFeed.written)
                count("feed_uploads", "Regulator feed files the server took", f.uploaded, s.lastFeed.uploaded)
                count(
                    "feed_upload_failures", "Regulator feed uploads that failed (retried)", f.uploadFailures,
                    s.lastFeed.uploadFailures)
                count(
                    "feed_write_errors", "Regulator feed files the disk refused (retried)", f.writeErrors,
                    s.lastFeed.writeErrors)
                s.lastFeed = f
            }
            if pipeline.settings.routes.contains(where: { $0.sparkplug != nil }) {
                let sp = pipeline.sparkplugStatus
                for (reason, n) in sp.skipped {
                    count(
                        "sparkplug_skipped_metrics", "Sparkplug metrics that gave no reading, by reason", n,
                        s.lastSparkplug["skipped/" + reason, default: 0], labels: [("reason", reason)])
                    s.lastSparkplug["skipped/" + reason] = n
                }
                for (event, n) in sp.events {
                    count(
                        "sparkplug_events", "Sparkplug births, deaths, sequence gaps and rebirth requests", n,
                        s.lastSparkplug["event/" + event, default: 0], labels: [("event", event)])
                    s.lastSparkplug["event/" + event] = n
                }
                gauge("sparkplug_nodes_online", "count", "Sparkplug edge nodes alive", Double(sp.nodesOnline))
                gauge(
                    "sparkplug_nodes_offline", "count", "Sparkplug edge nodes dead or never born",
                    Double(sp.nodesOffline))
                gauge(
                    "sparkplug_offline_series", "count", "Series of dead Sparkplug nodes and devices",
                    Double(sp.offline.count))
            }
            s.last = status
            s.lastClient = stats
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Broker connected, traffic recent (when a watchdog time is set), sinks writing.
    public func health() -> (healthy: Bool, json: String) {
        state.withLock { s in
            let stats = s.client?.statistics
            let now = WallClock.now()
            if let stats, stats.received != s.lastReceived {
                s.lastReceived = stats.received
                s.lastTrafficAt = now
            }
            let silent = Double(now.milliseconds - s.lastTrafficAt.milliseconds) / 1000
            let connected = stats?.connected ?? false
            let trafficOK = s.settings.trafficTimeout.map { silent < $0 } ?? true
            let feed = s.feed?.status
            let sinksOK = s.sinkErrors.isEmpty && feed?.failing != true
            var line = JSONLine()
            let healthy = connected && trafficOK && sinksOK
            line.add("status", healthy ? "ok" : "degraded")
            line.addRaw("broker_connected", connected ? "true" : "false")
            line.add("seconds_since_last_message", silent.rounded())
            line.addRaw("traffic_recent", trafficOK ? "true" : "false")
            line.addRaw("sinks_healthy", sinksOK ? "true" : "false")
            if !sinksOK {
                var errors = JSONLine()
                for (name, error) in s.sinkErrors.sorted(by: { $0.key < $1.key }) { errors.add(name, error) }
                line.addRaw("sink_errors", errors.finished())
            }
            if let feed, feed.failing {
                var f = JSONLine()
                f.add("error", feed.lastError ?? "")
                f.add("pending", feed.pending)
                f.add("oldest_pending_seconds", feed.oldestPendingSeconds.rounded())
                line.addRaw("feed_failing", f.finished())
            }
            return (healthy, line.finished())
        }
    }
}
