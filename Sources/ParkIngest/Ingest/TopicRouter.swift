import TelemetryCore
import UplinkWire

/// Stage 1, route: topic → the route that decodes it and the series it names. The common
/// path is one lookup of the topic's bytes as they came off the wire (no `String` is made); a
/// topic is checked and matched against the patterns only the first time it is seen, and the
/// cache is bounded so a flood of bogus topics cannot grow memory without end.
package struct TopicRouter {
    package struct Entry: Sendable {
        package static let unknown = Entry(route: -1, base: nil)
        package var route: Int32
        /// The series the topic names, boxed: an entry is copied per message, and a series id
        /// is four strings to retain and release; the box is one reference, read in place.
        package let named: Named?
        package var base: SeriesID? { named?.id }
        /// The series of a reading without a field name; -1 before its first reading.
        package var slot: Int32 = -1
        /// Its place in the cache (for `remember`), or -1 when the cache was full.
        package var cached: Int32 = -1

        init(route: Int32, base: SeriesID?) {
            self.route = route
            named = base.map(Named.init)
        }
    }

    package final class Named: Sendable {
        package let id: SeriesID
        init(_ id: SeriesID) { self.id = id }
    }

    package enum Refusal: Error {
        case refused(RejectReason, String)
    }

    package let routes: [TopicRoute]
    /// Topic → index in `entries`.
    private var cache = TopicIndex()
    private var entries: [Entry] = []
    private let maxCached: Int
    /// A caller's own dense number for a topic (a replay's reader numbers the topics it has
    /// seen) → index in `entries`, or -1: such a topic is found without hashing or comparing
    /// its bytes. Cleared with the cache.
    private var aliases: [Int32] = []

    package init(routes: [TopicRoute], maxCached: Int) {
        self.routes = routes
        self.maxCached = maxCached
    }

    /// The topic's route and base series, or why the message is refused.
    package mutating func route(_ topic: String, limits: IngestPipeline.Limits) -> Result<Entry, Refusal> {
        var topic = topic
        return topic.withUTF8 { route($0, limits: limits) }
    }

    /// As `route(_:limits:)`, for the topic's UTF-8 bytes as received (checked here); `hash`
    /// is their `TopicIndex.hash` when the caller already has it. `alias`, when not -1, is the
    /// caller's number for this topic: the caller gives each distinct topic its own number, and
    /// always the same one (a number given with two topics would route the second as the first).
    package mutating func route(
        _ topic: UnsafeBufferPointer<UInt8>, hash known: UInt32? = nil, alias: Int32 = -1,
        limits: IngestPipeline.Limits
    ) -> Result<Entry, Refusal> {
        let bytes = topic.count
        if alias >= 0, Int(alias) < aliases.count, aliases[Int(alias)] >= 0 {
            return Self.checked(entries[Int(aliases[Int(alias)])])
        }
        let entry: Entry
        let hash = bytes <= limits.maxTopicBytes ? known ?? TopicIndex.hash(topic) : 0
        if bytes <= limits.maxTopicBytes, let cached = cache.find(topic, hash: hash) {
            entry = entries[Int(cached)]
        } else {
            // Checked once per topic: a cached topic passed these before.
            if bytes > limits.maxTopicBytes
                || (bytes > 2 * limits.maxTopicLevels
                    && topic.lazy.filter({ $0 == UInt8(ascii: "/") }).count >= limits.maxTopicLevels)
            {
                return .failure(
                    .refused(
                        .topicTooLong,
                        "topic of \(bytes) bytes is over limits.max_topic_bytes (\(limits.maxTopicBytes)) or limits.max_topic_levels (\(limits.maxTopicLevels))"
                    ))
            }
            // Bytes that are not UTF-8 become U+FFFD, refused below with the first problem in order.
            let text = String(decoding: topic, as: UTF8.self)
            if let problem = Self.topicProblem(text) { return .failure(.refused(.badTopic, problem)) }
            entry = lookUp(text, bytes: topic, hash: hash)
        }
        if alias >= 0 && entry.cached >= 0 { remember(alias: alias, entry.cached) }
        return Self.checked(entry)
    }

    /// Static: a method would copy the whole router (its arrays retained) per message.
    private static func checked(_ entry: Entry) -> Result<Entry, Refusal> {
        guard entry.route >= 0, entry.named != nil else {
            return .failure(.refused(.unknownTopic, "topic matches no configured pattern"))
        }
        return .success(entry)
    }

    /// Remembers the series of a cached topic's unnamed readings, so the next message skips
    /// the lookup.
    /// `cached` is the topic's `Entry.cached`.
    package mutating func remember(cached: Int32, slot: Int32) {
        guard cached >= 0 else { return }
        entries[Int(cached)].slot = slot
    }

    private mutating func remember(alias: Int32, _ cached: Int32) {
        if Int(alias) >= aliases.count {
            aliases.append(contentsOf: repeatElement(-1, count: Int(alias) + 1 - aliases.count))
        }
        aliases[Int(alias)] = cached
    }

    /// Forgets the series remembered per topic (their slots moved after an eviction).
    package mutating func forgetSlots() {
        cache.removeAll()
        entries.removeAll(keepingCapacity: true)
        aliases = []
    }

    private mutating func lookUp(_ topic: String, bytes: UnsafeBufferPointer<UInt8>, hash: UInt32) -> Entry {
        var entry = Self.match(topic, in: routes).map { Entry(route: Int32($0.route), base: $0.base) } ?? .unknown
        if cache.count < maxCached {
            entry.cached = cache.insert(bytes, hash: hash)
            entries.append(entry)
        }
        return entry
    }

    /// The first route whose pattern matches `topic`, and the series it names.
    package static func match(_ topic: String, in routes: [TopicRoute]) -> (route: Int, base: SeriesID)? {
        for (index, route) in routes.enumerated() {
            if let id = route.match(topic) { return (index, id) }
        }
        return nil
    }

    /// A topic parkd refuses to look up: MQTT forbids U+0000 and wildcards in a published
    /// topic, and control characters would reach logs and terminals.
    package static func topicProblem(_ topic: String) -> String? {
        for scalar in topic.unicodeScalars {
            switch scalar.value {
            case 0: return "topic holds U+0000, which MQTT forbids"
            case 0x01..<0x20, 0x7f..<0xa0: return "topic holds control character U+\(String(scalar.value, radix: 16))"
            case 0x2b, 0x23: return "topic holds the wildcard '\(Character(scalar))'"
            case 0xfffd: return "topic is not valid UTF-8"
            default: continue
            }
        }
        return nil
    }
}
