/// Maps a topic to a series identity by named segments, e.g.
/// `parks/{park}/{zone}/{pillar}/{kind}/{sensor}`, with `+` for any one level, `#` for the
/// rest, and fixed values for parts the topic lacks (ChirpStack, The Things Stack, Homie).
public struct TopicPattern: Sendable, Equatable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        case field(Field)
        case anyLevel
        case rest
    }

    public enum Field: String, Sendable, CaseIterable {
        case park, zone, pillar, kind, sensor
    }

    public static let defaultPattern = "parks/{park}/{zone}/{pillar}/{kind}/{sensor}"

    public let text: String
    public let segments: [Segment]
    public let fixed: [Field: String]
    /// For each field (in `Field.allCases` order), the segment that captures it, or -1 when
    /// it is fixed.
    private let fieldSegments: [Int]

    public init(_ text: String, fixed: [String: String] = [:]) throws(TopicPatternError) {
        var segments: [Segment] = []
        var seen = Set<Field>()
        let levels = text.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level == "#" {
                guard index == levels.count - 1 else { throw .init(text, "'#' must be the last level") }
                segments.append(.rest)
            } else if level == "+" {
                segments.append(.anyLevel)
            } else if level.hasPrefix("{") && level.hasSuffix("}") {
                let name = String(level.dropFirst().dropLast())
                guard let field = Field(rawValue: name) else {
                    throw .init(text, "unknown field {\(name)}; expected one of park, zone, pillar, kind, sensor")
                }
                guard seen.insert(field).inserted else { throw .init(text, "{\(name)} appears twice") }
                segments.append(.field(field))
            } else if level.contains("{") || level.contains("}") || level.contains("+") || level.contains("#") {
                throw .init(text, "level '\(level)' mixes a field or wildcard with text; use a whole level")
            } else {
                segments.append(.literal(String(level)))
            }
        }
        var fixedFields: [Field: String] = [:]
        for (name, value) in fixed {
            guard let field = Field(rawValue: name) else {
                throw .init(text, "fixed value for unknown field '\(name)'")
            }
            guard !seen.contains(field) else {
                throw .init(text, "field \(name) is both in the pattern and fixed")
            }
            if field == .pillar && Pillar(rawValue: value) == nil {
                throw .init(text, "fixed pillar '\(value)' is not one of energy, emissions, green")
            }
            fixedFields[field] = value
        }
        for field in Field.allCases where !seen.contains(field) && fixedFields[field] == nil {
            throw .init(text, "no {\(field.rawValue)} in the pattern and no fixed value for it")
        }
        // Every stored property set at the end, after the last throw.
        self.text = text
        self.segments = segments
        self.fixed = fixedFields
        fieldSegments = Field.allCases.map { field in segments.firstIndex { $0 == .field(field) } ?? -1 }
    }

    public var description: String { text }

    /// The series a topic names, or nil when the topic does not fit the pattern. Run once for
    /// each new topic (100 000 at a large gateway's start): levels are walked in the topic's
    /// UTF-8 in place, with no array of levels or table of captures made.
    public func match(_ topic: String) -> SeriesID? {
        withUnsafeTemporaryAllocation(of: Range<String.Index>.self, capacity: segments.count) { levels in
            match(topic, levels: levels)
        }
    }

    /// `levels` has room for one level per segment: where each segment's level lies.
    private func match(_ topic: String, levels: UnsafeMutableBufferPointer<Range<String.Index>>) -> SeriesID? {
        let utf8 = topic.utf8
        var position = utf8.startIndex
        // Set once the last level is taken (an empty topic is one empty level).
        var ended = false
        for (k, segment) in segments.enumerated() {
            if case .rest = segment {
                ended = true
                break
            }
            guard !ended else { return nil }
            let start = position
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
            if end == utf8.endIndex { ended = true } else { position = utf8.index(after: end) }
            levels.initializeElement(at: k, to: start..<end)
            switch segment {
            case .literal(let text): guard utf8[start..<end].elementsEqual(text.utf8) else { return nil }
            case .field: guard start < end else { return nil }
            case .anyLevel, .rest: break  // `.rest` ended the loop above
            }
        }
        guard ended else { return nil }
        func value(_ field: Field) -> String? {
            let k = fieldSegments[field.order]
            return k >= 0 ? String(Substring(utf8[levels[k]])) : fixed[field]
        }
        guard let park = value(.park), let zone = value(.zone),
            let pillar = value(.pillar).flatMap(Pillar.init(rawValue:)),
            let kind = value(.kind), let sensor = value(.sensor)
        else { return nil }
        return SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
    }
}

extension TopicPattern.Field {
    /// Its place in `allCases`.
    var order: Int { Self.allCases.firstIndex(of: self)! }
}

public struct TopicPatternError: Error, Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    public let problem: String
    init(_ pattern: String, _ problem: String) {
        self.pattern = pattern
        self.problem = problem
    }
    public var description: String { "topic pattern '\(pattern)': \(problem)" }
}

/// Several patterns tried in order; the first that matches wins.
public struct TopicRouter: Sendable {
    public let patterns: [TopicPattern]

    public init(_ patterns: [TopicPattern]) { self.patterns = patterns }

    public func match(_ topic: String) -> SeriesID? {
        for pattern in patterns {
            if let id = pattern.match(topic) { return id }
        }
        return nil
    }
}
