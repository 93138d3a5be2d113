/// The files an automatic monitoring station sends the provincial environment department
/// (Decree 08/2022/NĐ-CP Art. 97–98, Circular 10/2021/TT-BTNMT): one text file per station
/// per cycle, `<station>/<YYYY>/<MM>/<DD>/<Province>_<Facility>_<Station>_<YYYYMMDDhhmmss>.txt`,
/// each parameter as `code \t value \t unit \t YYYYMMDDhhmmss \t status`. The layout is taken
/// from secondary sources (two public datalogger implementations, vendors' paraphrases of
/// Articles 39 and 56, the older Circular 24/2017), so every part of it is a setting.
public struct RegulatorFeedFormat: Sendable, Equatable {
    public enum Layout: String, Sendable, CaseIterable {
        /// One line per parameter.
        case lines
        /// All parameters on one line, their five fields one after another.
        case line
    }

    public enum Missing: String, Sendable, CaseIterable {
        /// A parameter without data in the cycle: `---` as its value, status 02.
        case dashes
        /// Left out of the file.
        case omit
    }

    public var province: String
    public var facility: String
    public var cycleMilliseconds: Int64 = 300_000
    public var layout = Layout.lines
    public var missing = Missing.dashes
    public var calendar = LocalCalendar(utcOffsetMinutes: LocalCalendar.defaultOffsetMinutes)

    public init(province: String, facility: String) {
        self.province = province
        self.facility = facility
    }

    /// Letters, digits, `-` and `_`: a name that can only be one path segment, never `..`,
    /// `/`, a drive or a control character. Province, facility and station ids must be so.
    public static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F
            }
    }

    /// `YYYYMMDDhhmmss` in the park's local time.
    public func stamp(_ time: EventTime) -> String {
        let text = RFC3339.format(time, offsetMinutes: calendar.utcOffsetMinutes)
        // 2026-11-23T10:05:00.000+07:00
        let d = Array(text.utf8)
        let picks = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        return String(decoding: picks.map { d[$0] }, as: UTF8.self)
    }

    /// The instant a `YYYYMMDDhhmmss` stamp names (the inverse of `stamp`), nil if it is not one.
    public func time(ofStamp stamp: Substring) -> EventTime? {
        let digits = Array(stamp.utf8)
        guard digits.count == 14, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func number(_ from: Int, _ count: Int) -> Int {
            digits[from..<from + count].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        let days = Int64(RFC3339.daysFromCivil(year: number(0, 4), month: number(4, 2), day: number(6, 2)))
        let seconds = Int64(number(8, 2) * 3600 + number(10, 2) * 60 + number(12, 2))
        return EventTime(
            milliseconds: days * LocalCalendar.dayMilliseconds + seconds * 1000 - Int64(calendar.utcOffsetMinutes)
                * 60_000)
    }

    /// Where the cycle's file goes, relative to the feed's root: the station's folder by date.
    public func relativePath(station: String, end: EventTime) -> String {
        let s = stamp(end)
        let (y, m, d) = (s.prefix(4), s.dropFirst(4).prefix(2), s.dropFirst(6).prefix(2))
        return "\(station)/\(y)/\(m)/\(d)/\(province)_\(facility)_\(station)_\(s).txt"
    }

    /// The value as the file writes it: at most three decimals, no exponent, no trailing zeros.
    public static func number(_ value: Double) -> String {
        let scaled = (value * 1000).rounded()
        guard scaled.isFinite, abs(scaled) < 1e15 else { return "---" }
        let negative = scaled < 0
        let units = Int64(abs(scaled))
        var text = "\(units / 1000)"
        var fraction = units % 1000
        if fraction != 0 {
            var digits = 3
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
            let padded = String(fraction)
            text += "." + String(repeating: "0", count: digits - padded.count) + padded
        }
        return negative && units != 0 ? "-" + text : text
    }

    /// The file's text for one closed cycle.
    public func text(_ cycle: FeedCycle) -> String {
        let time = stamp(cycle.end)
        var fields: [[String]] = []
        for p in cycle.parameters {
            if let value = p.mean {
                fields.append([p.code, Self.number(value), p.unit, time, p.status.code])
            } else if missing == .dashes {
                fields.append([p.code, "---", p.unit, time, p.status.code])
            }
        }
        switch layout {
        case .lines: return fields.map { $0.joined(separator: "\t") + "\r\n" }.joined()
        case .line:
            return fields.isEmpty ? "" : fields.map { $0.joined(separator: "\t") }.joined(separator: "\t") + "\r\n"
        }
    }
}

/// One station's closed cycle: each configured parameter's mean of accepted readings and the
/// status the instrument reported.
public struct FeedCycle: Sendable, Equatable {
    public struct Parameter: Sendable, Equatable {
        public var code: String
        public var unit: String
        /// Nil when no reading was accepted in the cycle.
        public var mean: Double?
        public var readings: Int
        public var status: FeedStatus
        public init(code: String, unit: String, mean: Double?, readings: Int, status: FeedStatus) {
            self.code = code
            self.unit = unit
            self.mean = mean
            self.readings = readings
            self.status = status
        }
    }

    public var station: String
    public var start: EventTime
    public var end: EventTime
    public var parameters: [Parameter]

    public init(station: String, start: EventTime, end: EventTime, parameters: [Parameter]) {
        self.station = station
        self.start = start
        self.end = end
        self.parameters = parameters
    }
}

/// The status field: 00 measuring, 01 calibrating, 02 device error. A parameter with no
/// accepted reading takes the instrument's own status if it sent one (calibrating, error),
/// else 02: no data from the instrument is reported as a fault, never as measuring.
public enum FeedStatus: String, Sendable, Equatable {
    case measuring = "00"
    case calibrating = "01"
    case error = "02"

    public var code: String { rawValue }
}
