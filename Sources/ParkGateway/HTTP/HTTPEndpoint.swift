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

/// The loopback HTTP endpoint: /metrics, /healthz and a small JSON API.
package enum HTTPEndpoint {
    /// `/api/history` answers at most this period and this many stored rows (`parkd query`
    /// reads without bounds).
    package static let maxHistorySpan: Int64 = 400 * 86_400_000
    package static let maxHistoryRows = 200_000

    /// The page's and the API's connections on one event-loop thread of their own, at a lower
    /// priority than ingest; the probes' on a thread of their own at normal priority. (The
    /// route handlers themselves run on Swift's shared task pool, as Hummingbird starts them.)
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
            let sensors = o.settings.sensorMetrics?.path == "/metrics" ? (o.sensorMetrics() ?? "") : ""
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: o.metrics() + sensors)))
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
        // On a path of its own; with `path: /metrics` the probes' /metrics handler appends them.
        if let path = o.settings.sensorMetrics?.path, path != "/metrics" {
            router.get(RouterPath(path)) { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: o.sensorMetrics() ?? "")))
            }
        }
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
        router.get("/api/sparkplug") { _, _ in
            guard pipeline.settings.routes.contains(where: { $0.sparkplug != nil }) else {
                return json(#"{"error":"no sparkplug topic route is configured"}"#, status: .notFound)
            }
            return json(SparkplugFormat.status(pipeline.sparkplugStatus))
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
