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

    /// The series a topic names, or nil when the topic does not fit the pattern.
    public func match(_ topic: String) -> SeriesID? {
        var values: [Field: Substring] = [:]
        var levels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        for segment in segments {
            switch segment {
            case .rest:
                levels = []
                break
            case .anyLevel:
                guard levels.popFirst() != nil else { return nil }
            case .literal(let text):
                guard let level = levels.popFirst(), level.elementsEqual(text.utf8) else { return nil }
            case .field(let field):
                guard let level = levels.popFirst(), !level.isEmpty else { return nil }
                values[field] = Substring(level)
            }
        }
        guard levels.isEmpty else { return nil }
        func value(_ field: Field) -> String? {
            if let captured = values[field] { return String(captured) }
            return fixed[field]
        }
        guard let park = value(.park), let zone = value(.zone), let pillarText = value(.pillar),
            let pillar = Pillar(rawValue: pillarText), let kind = value(.kind), let sensor = value(.sensor)
        else { return nil }
        return SeriesID(park: park, zone: zone, pillar: pillar, kind: kind, sensor: sensor)
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
