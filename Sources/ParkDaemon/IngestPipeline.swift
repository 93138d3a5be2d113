import Logging
import MQTTClient
import Synchronization
import TelemetryCore

/// Topic → series, payload → reading, reading → per-series state. Called on the MQTT network
/// thread for each message (or by replay), so the common path is one dictionary lookup on
/// the topic, one decode and one slot update under an uncontended lock.
public final class IngestPipeline: Sendable {
    public struct Limits: Sendable {
        public var maxPayloadBytes: Int
        public var maxSeries: Int
        public init(maxPayloadBytes: Int = 65536, maxSeries: Int = 100_000) {
            self.maxPayloadBytes = maxPayloadBytes
            self.maxSeries = maxSeries
        }
    }

    /// Per-series figures over the current interval (placeholder aggregation: counts and the
    /// latest value; the windows of TelemetryCore take this place).
    public struct SeriesInterval: Sendable, Equatable {
        public var readings = 0
        public var last: Double = .nan
        public var lastTime = EventTime(milliseconds: 0)
    }

    public struct Snapshot: Sendable {
        public var counters: IngestCounters
        public var series: [(id: SeriesID, interval: SeriesInterval)]
        public var seriesTotal: Int
    }

    private struct State: ~Copyable {
        var topicSlots: [String: Int32] = [:]
        var seriesSlots: [SeriesID: Int32] = [:]
        var series: [SeriesID] = []
        var intervals: [SeriesInterval] = []
        var interval = IngestCounters()
        var total = IngestCounters()
        var badInput: BadInputLog
    }

    private static let unknownTopic: Int32 = -1
    private static let overLimit: Int32 = -2

    private let router: TopicRouter
    private let decoder: JSONReadingDecoder
    private let limits: Limits
    private let maxCachedTopics: Int
    private let state: Mutex<State>

    public init(router: TopicRouter, decoder: JSONReadingDecoder, limits: Limits, logger: Logger) {
        self.router = router
        self.decoder = decoder
        self.limits = limits
        maxCachedTopics = limits.maxSeries * 2 + 10_000
        state = Mutex(State(badInput: BadInputLog(logger: logger)))
    }

    /// Takes one message. `arrival` is the time a reading without its own takes.
    public func ingest(topic: String, payload: [UInt8], arrival: EventTime) {
        state.withLock { state in
            state.interval.messages += 1
            let slot = self.slot(for: topic, in: &state)
            guard slot >= 0 else {
                reject(
                    slot == Self.overLimit ? .seriesLimit : .unknownTopic, topic: topic, arrival: arrival, in: &state,
                    detail: slot == Self.overLimit
                        ? "new series past the limit of \(limits.maxSeries) (limits.max_series)"
                        : "topic matches no configured pattern")
                return
            }
            guard payload.count <= limits.maxPayloadBytes else {
                reject(
                    .tooLarge, topic: topic, arrival: arrival, in: &state,
                    detail: "payload of \(payload.count) bytes is over payload.max_bytes (\(limits.maxPayloadBytes))")
                return
            }
            let reading: Reading
            do throws(PayloadError) {
                reading = try decoder.decode(payload, arrival: arrival)
            } catch {
                reject(
                    RejectReason(error.reason), topic: topic, arrival: arrival, in: &state,
                    detail: "\(error.detail); payload: \(LogSafe.bytes(payload))")
                return
            }
            state.interval.readings += 1
            let index = Int(slot)
            state.intervals[index].readings += 1
            state.intervals[index].last = reading.value
            state.intervals[index].lastTime = reading.time
        }
    }

    public func ingest(_ message: MQTTMessage, arrival: EventTime) {
        ingest(topic: message.topic, payload: message.payload, arrival: arrival)
    }

    private func slot(for topic: String, in state: inout State) -> Int32 {
        if let slot = state.topicSlots[topic] { return slot }
        let slot: Int32
        if let id = router.match(topic) {
            if let existing = state.seriesSlots[id] {
                slot = existing
            } else if state.series.count >= limits.maxSeries {
                slot = Self.overLimit
            } else {
                slot = Int32(state.series.count)
                state.series.append(id)
                state.intervals.append(SeriesInterval())
                state.seriesSlots[id] = slot
            }
        } else {
            slot = Self.unknownTopic
        }
        // Bounded: a flood of distinct bogus topics must not grow memory without end.
        if state.topicSlots.count < maxCachedTopics { state.topicSlots[topic] = slot }
        return slot
    }

    private func reject(
        _ reason: RejectReason, topic: String, arrival: EventTime, in state: inout State, detail: String
    ) {
        state.interval.rejected[reason, default: 0] += 1
        state.badInput.record(reason, topic: topic, detail: detail, nowMilliseconds: arrival.milliseconds)
    }

    /// The current interval's figures; starts a new interval.
    public func takeInterval() -> Snapshot {
        state.withLock { state in
            var series: [(id: SeriesID, interval: SeriesInterval)] = []
            for (index, interval) in state.intervals.enumerated() where interval.readings > 0 {
                series.append((state.series[index], interval))
                state.intervals[index] = SeriesInterval()
            }
            let counters = state.interval
            state.total.add(counters)
            state.interval = IngestCounters()
            state.badInput.flushSuppressed()
            return Snapshot(counters: counters, series: series, seriesTotal: state.series.count)
        }
    }

    /// Counts since start, the current interval included.
    public var totals: IngestCounters {
        state.withLock { state in
            var total = state.total
            total.add(state.interval)
            return total
        }
    }

    public var seriesCount: Int { state.withLock { $0.series.count } }
}
