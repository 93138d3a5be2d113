/// How serious an alert is.
public enum Severity: String, Sendable, Hashable, CaseIterable, Comparable {
    case info, warning, critical

    public static func < (a: Severity, b: Severity) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Which series a rule applies to: each part is a value, a glob with `*`, or nil for any.
public struct SeriesMatcher: Sendable, Equatable {
    public var park: String?
    public var zone: String?
    public var pillar: Pillar?
    public var kind: String?
    public var sensor: String?
    /// Parks left out (a QCVN 40 limit scaled for each park's own outlet is a rule of its own there).
    public var excludedParks: [String] = []

    public init(
        park: String? = nil, zone: String? = nil, pillar: Pillar? = nil, kind: String? = nil, sensor: String? = nil
    ) {
        self.park = park
        self.zone = zone
        self.pillar = pillar
        self.kind = kind
        self.sensor = sensor
    }

    public func matches(_ id: SeriesID) -> Bool {
        Self.glob(park, id.park) && !excludedParks.contains(id.park) && Self.glob(zone, id.zone)
            && (pillar.map { $0 == id.pillar } ?? true)
            && Self.glob(kind, id.kind) && Self.glob(sensor, id.sensor)
    }

    /// `*` matches any run of characters; everything else matches itself.
    public static func glob(_ pattern: String?, _ text: String) -> Bool {
        guard let pattern, pattern != "*" else { return true }
        // No star (most patterns name one kind or park): String's own comparison, which is a
        // byte comparison for ASCII. The star looked for in the bytes, not the characters.
        guard pattern.utf8.contains(UInt8(ascii: "*")) else { return pattern == text }
        // Every rule is matched against each new series (100 000 at a large gateway's start):
        // printable ASCII, as names nearly always are, is matched as bytes, which gives the
        // same answer without breaking the text into characters.
        if let answer = printableASCIIGlob(pattern, text) { return answer }
        return characterGlob(pattern, text)
    }

    /// `glob` over `Character`s: for names beyond printable ASCII, where equal text may be
    /// spelt in other code points (canonical equivalence).
    static func characterGlob(_ pattern: String, _ text: String) -> Bool {
        guard pattern.contains("*") else { return pattern == text }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(text)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || (rest.hasSuffix(part) && rest.count >= part.count)
            } else if !part.isEmpty {
                var index = rest.startIndex
                while !rest[index...].hasPrefix(part) {
                    guard index < rest.endIndex else { return false }
                    index = rest.index(after: index)
                }
                rest = rest[index...].dropFirst(part.count)
            }
        }
        return true
    }

    /// `glob` over bytes when both are printable ASCII (0x20-0x7E: one byte a character,
    /// no combining marks, no CR LF pair), else nil.
    static func printableASCIIGlob(_ pattern: String, _ text: String) -> Bool? {
        let answer = pattern.utf8.withContiguousStorageIfAvailable { p in
            text.utf8.withContiguousStorageIfAvailable { t -> Bool? in
                guard isPrintableASCII(p), isPrintableASCII(t) else { return nil }
                return byteGlob(p, t)
            }
        }
        // nil when either is not stored contiguously, or not printable ASCII.
        guard let stored = answer, let both = stored else { return nil }
        return both
    }

    private static func isPrintableASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// Leftmost match of each part between stars, as `characterGlob` does.
    private static func byteGlob(_ p: UnsafeBufferPointer<UInt8>, _ t: UnsafeBufferPointer<UInt8>) -> Bool {
        let star = UInt8(ascii: "*")
        guard let firstStar = p.firstIndex(of: star) else { return Bytes.equal(p, t) }
        // The part before the first star is a prefix; the part after the last, a suffix.
        let lastStar = p.lastIndex(of: star)!
        let head = UnsafeBufferPointer(rebasing: p[..<firstStar])
        let tail = UnsafeBufferPointer(rebasing: p[(lastStar + 1)...])
        guard head.count + tail.count <= t.count, Bytes.equal(head, UnsafeBufferPointer(rebasing: t[..<head.count])),
            Bytes.equal(tail, UnsafeBufferPointer(rebasing: t[(t.count - tail.count)...]))
        else { return false }
        // The parts between, in order, each at its leftmost place in what is left between.
        var at = head.count
        let end = t.count - tail.count
        var k = firstStar + 1
        while k < lastStar {
            let next = p[k..<lastStar].firstIndex(of: star) ?? lastStar
            let part = UnsafeBufferPointer(rebasing: p[k..<next])
            k = next + 1
            guard !part.isEmpty else { continue }
            var found = -1
            var i = at
            while i + part.count <= end {
                if Bytes.equal(part, UnsafeBufferPointer(rebasing: t[i..<(i + part.count)])) {
                    found = i
                    break
                }
                i += 1
            }
            guard found >= 0 else { return false }
            at = found + part.count
        }
        return true
    }
}

extension Rule {
    /// The indices of the rules in `rules` whose matchers take `id`, in order. Read in place:
    /// a copy of each matcher per new series retained and released its names (the profile of
    /// a 100 000-series replay showed it).
    public static func indices(in rules: [Rule], matching id: SeriesID) -> [Int] {
        rules.withUnsafeBufferPointer { rules in
            var found: [Int] = []
            for index in rules.indices where rules[index].matcher.matches(id) { found.append(index) }
            return found
        }
    }
}

/// A statistic of a window that a rule can test.
public enum WindowStatistic: String, Sendable, CaseIterable {
    case mean, min, max, sum, count, std, p50, p95, p99, last, increase
    case rate = "rate_per_s"
    /// The energy average of decibel readings (LAeq for noise): what QCVN 26 limits.
    case leq

    public func value(of stats: WindowStats) -> Double? {
        withUnsafePointer(to: stats) { value(at: $0) }
    }

    /// As `value(of:)`, for figures read where they lie (the rule engine's, after every
    /// reading): a stored figure is loaded alone; lent whole, the figures were copied (their
    /// sketch retained and released) per window rule and reading.
    func value(at stats: UnsafePointer<WindowStats>) -> Double? {
        guard !stats.pointee.isEmpty || self == .count else { return nil }
        guard stats.pointee.detailed || self == .mean || self == .count || self == .sum || self == .leq else {
            return nil
        }
        switch self {
        case .mean: return stats.pointee.mean
        case .min: return stats.pointee.min
        case .max: return stats.pointee.max
        case .sum: return stats.pointee.sum
        case .count: return Double(stats.pointee.count)
        case .std: return stats.pointee.standardDeviation
        case .p50: return stats.pointee.quantile(0.5)
        case .p95: return stats.pointee.quantile(0.95)
        case .p99: return stats.pointee.quantile(0.99)
        case .last: return stats.pointee.lastValue
        case .increase: return stats.pointee.increase
        case .rate: return stats.pointee.rateOfChange
        case .leq: return stats.pointee.leq
        }
    }
}

/// What a rule watches.
public enum RuleCondition: Sendable, Equatable {
    /// The latest valid reading, or a window statistic, above (or below) `limit`; it clears
    /// only past `clear` (hysteresis), which defaults to the limit itself.
    case threshold(source: ValueSource, above: Bool, limit: Double, clear: Double?)
    /// A window's rate of change beyond ±`limit` per second.
    case rateOfChange(window: String, limit: Double)
    /// A reading outside the kind's physical range.
    case outOfRange
    /// No reading for `afterMilliseconds` (including a sensor that has never reported).
    case stale(afterMilliseconds: Int64)
    /// A window whose readings span no more than `spread` (a stuck sensor), with at least `minCount` of them.
    case flatline(window: String, spread: Double, minCount: Int)
    /// A window holding fewer than `minShare` of the `expected` readings.
    case completeness(window: String, expected: Int, minShare: Double)
    /// A cumulative counter that went down.
    case counterReset(window: String)
    /// A sensor flagged calibrating for longer than `afterMilliseconds`.
    case calibrating(afterMilliseconds: Int64)

    public enum ValueSource: Sendable, Equatable {
        case reading
        case window(String, WindowStatistic)
    }
}

/// A rule: what to watch, on which series, how serious, and where the limit comes from.
public struct Rule: Sendable, Equatable {
    public var id: String
    public var description: String
    public var severity: Severity
    /// The regulation a limit comes from (e.g. "QCVN 05:2023/BTNMT"), when there is one.
    public var reference: String?
    public var matcher: SeriesMatcher
    public var condition: RuleCondition
    /// The condition must hold this long before the alert fires.
    public var forMilliseconds: Int64
    /// Repeat a firing alert's line this often while it lasts; nil: once per episode.
    public var renotifyMilliseconds: Int64?
    /// The local times of day the rule applies (minutes after midnight, end exclusive, may
    /// wrap past midnight), e.g. QCVN 26 day and night noise limits; outside them it clears.
    public var activeMinutes: (start: Int, end: Int)?
    public var utcOffsetMinutes: Int = LocalCalendar.defaultOffsetMinutes
    /// Regulatory averages count only when the window holds enough data (`validity`):
    /// a 24 h mean of one reading is not a daily average.
    public var requireValid = false
    /// The rule applies from / until these instants (a limit that changes on a date).
    public var validFrom: EventTime?
    public var validUntil: EventTime?
    public var validity = ValidityRule()
    /// The fixed period (clock hour, 8-hour mean, local day, calendar year) on which the
    /// rule's limit is judged for compliance records; nil for rules that only alert.
    public var compliancePeriod: CompliancePeriod?
    /// A limit judged only on completed periods (an annual mean): no rolling alert.
    public var complianceOnly = false
    /// A QCVN 40 limit C that applies as C × Kq × Kf at a park's wastewater outlet (`kq_kf: true`).
    public var scaledByKqKf = false
    /// Where the regulation applies (`applies_at:`): `outlet` (a park's declared wastewater
    /// outlet) or a zone class (`ordinary`, `special`); nil: wherever it matches.
    public var appliesAt: String?

    public static func == (a: Rule, b: Rule) -> Bool {
        a.id == b.id && a.description == b.description && a.severity == b.severity && a.reference == b.reference
            && a.matcher == b.matcher && a.condition == b.condition && a.forMilliseconds == b.forMilliseconds
            && a.renotifyMilliseconds == b.renotifyMilliseconds && a.activeMinutes?.start == b.activeMinutes?.start
            && a.activeMinutes?.end == b.activeMinutes?.end && a.utcOffsetMinutes == b.utcOffsetMinutes
            && a.requireValid == b.requireValid && a.validity == b.validity && a.validFrom == b.validFrom
            && a.validUntil == b.validUntil && a.compliancePeriod == b.compliancePeriod
            && a.complianceOnly == b.complianceOnly && a.scaledByKqKf == b.scaledByKqKf && a.appliesAt == b.appliesAt
    }

    /// The rule's limit, whether it is an upper one, and whether it reads an energy average:
    /// what a compliance record compares a period's value with.
    public var complianceLimit: (limit: Double, above: Bool, statistic: WindowStatistic)? {
        guard compliancePeriod != nil else { return nil }
        switch condition {
        case .threshold(.window(_, let statistic), let above, let limit, _): return (limit, above, statistic)
        case .threshold(.reading, let above, let limit, _): return (limit, above, .mean)
        default: return nil
        }
    }

    /// Whether the rule applies at `time` (its `activeMinutes`, in the park's local time).
    public func isActive(at time: EventTime) -> Bool {
        if let validFrom, time < validFrom { return false }
        if let validUntil, time >= validUntil { return false }
        guard let (start, end) = activeMinutes else { return true }
        let minute = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes).minuteOfDay(time)
        return LocalCalendar.within(minute, from: start, to: end)
    }

    public init(
        id: String, description: String, severity: Severity = .warning, reference: String? = nil,
        matcher: SeriesMatcher = SeriesMatcher(), condition: RuleCondition, forMilliseconds: Int64 = 0,
        renotifyMilliseconds: Int64? = nil
    ) {
        self.id = id
        self.description = description
        self.severity = severity
        self.reference = reference
        self.matcher = matcher
        self.condition = condition
        self.forMilliseconds = forMilliseconds
        self.renotifyMilliseconds = renotifyMilliseconds
    }

    /// Whether the window the rule reads must keep more than count, sum and mean (its
    /// extremes, spread, ends or counter increase).
    public var needsDetail: Bool {
        switch condition {
        case .threshold(.window(_, let statistic), _, _, _): ![.mean, .count, .sum, .leq].contains(statistic)
        case .rateOfChange, .flatline, .counterReset: true
        default: false
        }
    }

    /// Whether the rule reads a window's energy average (decibel series keep energy sums there).
    public var needsEnergy: Bool {
        if case .threshold(.window(_, .leq), _, _, _) = condition { return true }
        return false
    }

    public var needsQuantiles: Bool {
        if case .threshold(.window(_, let statistic), _, _, _) = condition {
            return statistic == .p50 || statistic == .p95 || statistic == .p99
        }
        return false
    }

    /// The window the condition reads, if any.
    public var windowName: String? {
        switch condition {
        case .threshold(.window(let name, _), _, _, _), .rateOfChange(let name, _), .flatline(let name, _, _),
            .completeness(let name, _, _), .counterReset(let name):
            return name
        default:
            return nil
        }
    }
}
