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

        package init() {}

        package init(_ configuration: DaemonConfiguration) {
            broker = "\(configuration.broker.url)"
            trafficTimeout = configuration.broker.watchdog
            utcOffsetMinutes = configuration.summaries.utcOffsetMinutes
            historyPath = configuration.history.path
            historyResolution = configuration.history.resolutionMilliseconds
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
        var lastUplink = UplinkSender.Status()
        var lastOutboxDropped = 0
        /// Per park and pillar, its latest summary entry with readings in it (the status page's tiles).
        var tiles: [String: StatusPage.Tile] = [:]
        /// The latest compliance records (at most `recentComplianceLimit`), oldest first.
        var recentCompliance: [(record: ComplianceRecord, line: String)] = []
    }

    private let state = Mutex(State())

    public init(pipeline: IngestPipeline, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.pipeline = pipeline
        self.registry = registry
    }

    package var settings: Settings { state.withLock { $0.settings } }
    package func apply(_ settings: Settings) { state.withLock { $0.settings = settings } }
    package var brokerText: String { settings.broker }
    package var trafficTimeout: Double? { settings.trafficTimeout }
    public var utcOffsetMinutes: Int { settings.utcOffsetMinutes }
    package var historyResolution: Int64 { settings.historyResolution }

    package func attach(uplink: UplinkSender?) { state.withLock { $0.uplink = uplink } }
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
                s.tiles["\(park.park)/\(park.pillar.rawValue)"] = StatusPage.Tile(
                    park: park, period: summary.period, to: to)
            }
        }
    }

    package var tiles: [StatusPage.Tile] {
        state.withLock { $0.tiles.sorted { $0.key < $1.key }.map(\.value) }
    }

    package static let recentComplianceLimit = 2000

    package func noteCompliance(_ record: ComplianceRecord, line: String) {
        state.withLock { s in
            s.recentCompliance.append((record, line))
            if s.recentCompliance.count > 2 * Self.recentComplianceLimit {
                s.recentCompliance.removeFirst(s.recentCompliance.count - Self.recentComplianceLimit)
            }
        }
    }

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
            let sinksOK = s.sinkErrors.isEmpty
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
            return (healthy, line.finished())
        }
    }
}

/// The loopback HTTP endpoint: /metrics, /healthz and a small JSON API.
package enum HTTPEndpoint {
    /// `/api/history` answers at most this period and this many stored rows (`parkd query`
    /// reads without bounds).
    package static let maxHistorySpan: Int64 = 400 * 86_400_000
    package static let maxHistoryRows = 200_000

    /// The page and the API on one event-loop thread of their own, at a lower priority than
    /// ingest: however many clients hammer them, they take at most one core, and ingest wins
    /// that core when both want it. The probes have a thread of their own at normal priority.
    package static let pageThreads: MultiThreadedEventLoopGroup = lowPriorityGroup()
    package static let probeThreads = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    private static func lowPriorityGroup() -> MultiThreadedEventLoopGroup {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // nice +10 for that thread alone (on Linux the nice value is per thread, and 0 is the
        // calling one); raising one's own nice value needs no privilege.
        group.next().execute { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }
        return group
    }

    package static func application(_ o: Observability, pipeline: IngestPipeline, host: String, port: Int)
        -> some ApplicationProtocol
    {
        // Slow or idle clients cannot hold the endpoint, or parkd's file descriptors: a
        // connection idle for 10 s is closed, and past 128 open ones new ones wait in the
        // listen backlog (64) instead of taking descriptors the state files need.
        Application(
            router: router(o, pipeline: pipeline), server: .http1(configuration: .init(idleTimeout: .seconds(10))),
            configuration: .init(
                address: .hostname(host, port: port), backlog: 64,
                availableConnectionsDelegate: MaximumAvailableConnections(128)),
            eventLoopGroupProvider: .shared(pageThreads))
    }

    /// `http.probes`: /healthz and /metrics alone, on a listener whose few connections the page
    /// and the API cannot take: a monitoring probe is answered whatever they are doing.
    package static func probeApplication(_ o: Observability, host: String, port: Int) -> some ApplicationProtocol {
        Application(
            router: probeRouter(o), server: .http1(configuration: .init(idleTimeout: .seconds(10))),
            configuration: .init(
                address: .hostname(host, port: port), backlog: 16,
                availableConnectionsDelegate: MaximumAvailableConnections(16)),
            eventLoopGroupProvider: .shared(probeThreads))
    }

    package static func probeRouter(_ o: Observability) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: NoSniff())
        addProbes(router, o)
        return router
    }

    private static func addProbes(_ router: Router<BasicRequestContext>, _ o: Observability) {
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: o.metrics())))
        }
        router.get("/healthz") { _, _ in
            let (healthy, json) = o.health()
            return Response(
                status: healthy ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: json + "\n")))
        }
    }

    /// The routes, apart from the server, so tests run them in-process.
    package static func router(
        _ o: Observability, pipeline: IngestPipeline, maxHistoryRows: Int = HTTPEndpoint.maxHistoryRows
    ) -> Router<BasicRequestContext> {
        let router = Router()
        // Request counts and durations through swift-metrics, into the same registry.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: NoSniff())
        addProbes(router, o)
        router.get("/api/alerts") { _, _ in
            let items = pipeline.firingAlerts.map { alert -> String in
                var line = JSONLine()
                line.add("rule", alert.rule)
                line.add(series: alert.series)
                line.add("since", RFC3339.format(alert.since, offsetMinutes: 0))
                return line.finished()
            }
            return json("[" + items.joined(separator: ",") + "]")
        }
        // The latest compliance records (newest last), filtered by park, rule and exceeded=true,
        // and each annual limit's year so far.
        router.get("/api/compliance") { request, _ in
            let q = request.uri.queryParameters
            let limit = q.get("limit").flatMap { Int($0) }.map { max(1, min($0, Observability.recentComplianceLimit)) }
            let records = o.compliance(
                park: q.get("park"), rule: q.get("rule"), exceededOnly: q.get("exceeded") == "true",
                limit: limit ?? 200)
            let years = pipeline.complianceYearToDate.filter { q.get("park") == nil || $0.series.park == q.get("park") }
                .map { year -> String in
                    var line = JSONLine()
                    line.add(series: year.series)
                    line.add("from", RFC3339.format(year.start, offsetMinutes: o.utcOffsetMinutes))
                    line.add("valid_days", year.validDays)
                    line.add("days", year.days)
                    if let mean = year.mean { line.add("mean", mean) }
                    return line.finished()
                }
            return json(
                #"{"records":["# + records.joined(separator: ",") + #"],"year_to_date":["#
                    + years.joined(separator: ",") + "]}")
        }
        // History from the gateway's store: the same filters as `parkd query`.
        router.get("/api/history") { request, _ in
            let q = request.uri.queryParameters
            let reader: HistoryReader
            switch o.reader() {
            case .success(let found): reader = found
            case .failure(let error): return json(Self.error(error.description), status: .notFound)
            }
            do {
                let query = try HistoryQuery(
                    series: q.get("series") ?? "*", from: q.get("from"), to: q.get("to"),
                    resolution: q.get("resolution"), storedResolution: o.historyResolution, now: WallClock.now(),
                    utcOffsetMinutes: o.utcOffsetMinutes)
                if q.get("compliance") == "true" {
                    let lines = try reader.compliance(
                        rule: q.get("rule"), park: q.get("park"), from: query.from, to: query.to)
                    return json("[" + lines.joined(separator: ",") + "]")
                }
                // Bounded: a period back to the year 0001 or every series of a year must not
                // hold the reader (and the endpoint) for minutes.
                guard query.to - query.from <= HTTPEndpoint.maxHistorySpan else {
                    return json(
                        Self.error(
                            "the period spans more than \(HTTPEndpoint.maxHistorySpan / 86_400_000) days; ask for less, or use parkd query"
                        ), status: .badRequest)
                }
                let rows = try reader.rollups(
                    matching: query.matcher, from: query.from, to: query.to, resolution: query.resolution,
                    maxRows: maxHistoryRows)
                // Streamed, 64 KiB at a time: the reply is never whole in memory beside the rows.
                if q.get("format") == "csv" {
                    return Response(
                        status: .ok, headers: [.contentType: "text/csv"],
                        body: streamed(rows, open: reader.csvHeader() + "\n", separator: "\n", close: "\n", reader.csv)
                    )
                }
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: streamed(rows, open: "[", separator: ",", close: "]\n", reader.json))
            } catch let error as HistoryQuery.Invalid {
                return json(Self.error(error.description), status: .badRequest)
            } catch let error as HistoryReader.Failure where error.tooLarge {
                return json(Self.error(error.description), status: .badRequest)
            } catch {
                return json(Self.error("\(error)"), status: .internalServerError)
            }
        }
        // The status page (and its body alone, for the page's refresh).
        router.get("/") { request, _ in
            let part = request.uri.queryParameters.get("part") == "body"
            let reader = try? o.reader().get()
            let html = StatusPage.render(
                part: part, tiles: o.tiles, pipeline: pipeline, history: reader, broker: o.brokerText,
                utcOffsetMinutes: o.utcOffsetMinutes)
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                    // Nothing but the page's own inline style and script, and its own origin.
                    .contentSecurityPolicy:
                        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
                ], body: .init(byteBuffer: ByteBuffer(string: html)))
        }
        router.get("/api/summary") { _, _ in
            let last = o.summary
            guard let last else { return json(#"{"error":"no summary written yet"}"#, status: .notFound) }
            return json(last)
        }
        router.get("/api/series") { request, _ in
            let q = request.uri.queryParameters
            guard let park = q.get("park"), let zone = q.get("zone"), let pillarText = q.get("pillar"),
                let pillar = Pillar(rawValue: pillarText), let kind = q.get("kind"), let sensor = q.get("sensor")
            else {
                return json(
                    #"{"error":"give park, zone, pillar (energy, emissions, green), kind and sensor"}"#,
                    status: .badRequest)
            }
            let id = SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
            guard let (windows, shape) = pipeline.windows(of: id).map({ ($0.windows, $0.shape) }) else {
                return json(#"{"error":"no such series"}"#, status: .notFound)
            }
            return json(SummaryFormat.windows(windows, shape: shape))
        }
        return router
    }

    /// `open`, the rows' text with `separator` between them, `close`: written in chunks.
    static func streamed(
        _ rows: [Rollup], open: String, separator: String, close: String,
        _ format: @escaping @Sendable (Rollup) -> String
    ) -> ResponseBody {
        ResponseBody { writer in
            var buffer = ByteBuffer(string: open)
            for (index, row) in rows.enumerated() {
                if index > 0 { buffer.writeString(separator) }
                buffer.writeString(format(row))
                if buffer.readableBytes >= 65_536 {
                    try await writer.write(buffer)
                    buffer.clear()
                }
            }
            buffer.writeString(close)
            try await writer.write(buffer)
            try await writer.finish(nil)
        }
    }

    package static func error(_ message: String) -> String {
        var line = JSONLine()
        line.add("error", message)
        return line.finished()
    }

    package static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
