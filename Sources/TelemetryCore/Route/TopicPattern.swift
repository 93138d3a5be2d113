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

    public init(_ text: String, fixed: [String: String] = [:]) throws(TopicPatternError) {
        self.text = text
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
        self.segments = segments
        self.fixed = fixedFields
    }

    public var description: String { text }

    /// The series a topic names, or nil when the topic does not fit the pattern. Run once for
    /// each new topic (100 000 at a large gateway's start): levels are walked in the topic's
    /// UTF-8 in place, with no array of levels or table of captures made.
    public func match(_ topic: String) -> SeriesID? {
        let utf8 = topic.utf8
        var captured = Captures()
        var position = utf8.startIndex
        // Set once the last level is taken (an empty topic is one empty level).
        var ended = false
        /// The next level, or nil past the last.
        func nextLevel() -> Range<String.Index>? {
            guard !ended else { return nil }
            let start = position
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
            if end == utf8.endIndex { ended = true } else { position = utf8.index(after: end) }
            return start..<end
        }
        for segment in segments {
            switch segment {
            case .rest:
                ended = true
            case .anyLevel:
                guard nextLevel() != nil else { return nil }
            case .literal(let text):
                guard let level = nextLevel(), utf8[level].elementsEqual(text.utf8) else { return nil }
            case .field(let field):
                guard let level = nextLevel(), !level.isEmpty else { return nil }
                captured[field] = level
            }
        }
        guard ended else { return nil }
        func value(_ field: Field) -> String? {
            if let level = captured[field] { return String(Substring(utf8[level])) }
            return fixed[field]
        }
        guard let park = value(.park), let zone = value(.zone), let pillarText = value(.pillar),
            let pillar = Pillar(rawValue: pillarText), let kind = value(.kind), let sensor = value(.sensor)
        else { return nil }
        return SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
    }
}

extension TopicPattern {
    /// Where each field's level lies in a topic (no dictionary made per topic).
    fileprivate struct Captures {
        var park, zone, pillar, kind, sensor: Range<String.Index>?

        subscript(field: Field) -> Range<String.Index>? {
            get {
                switch field {
                case .park: park
                case .zone: zone
                case .pillar: pillar
                case .kind: kind
                case .sensor: sensor
                }
            }
            set {
                switch field {
                case .park: park = newValue
                case .zone: zone = newValue
                case .pillar: pillar = newValue
                case .kind: kind = newValue
                case .sensor: sensor = newValue
                }
            }
        }
    }
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
