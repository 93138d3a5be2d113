import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// A history query as `parkd query` and `/api/history` take it: a series glob, a period and a
/// resolution, checked with clear errors.
public struct HistoryQuery: Sendable {
    public var matcher: SeriesMatcher
    public var from: Int64
    public var to: Int64
    /// 0: as stored.
    public var resolution: Int64

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `park/zone/pillar/kind/sensor`, each part a name or a `*` glob; fewer parts match any
    /// rest (`bau-bang/*/emissions/pm25`).
    public static func matcher(_ text: String) throws(Invalid) -> SeriesMatcher {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...5).contains(parts.count), !parts.contains(where: \.isEmpty) else {
            throw Invalid(
                description: "expected a series as park/zone/pillar/kind/sensor, parts may be * globs; found '\(text)'")
        }
        func part(_ k: Int) -> String? { k < parts.count && parts[k] != "*" ? parts[k] : nil }
        var matcher = SeriesMatcher(park: part(0), zone: part(1), kind: part(3), sensor: part(4))
        if let pillar = part(2) {
            guard let value = Pillar(rawValue: pillar) else {
                throw Invalid(description: "pillar '\(pillar)' is not energy, emissions or green")
            }
            matcher.pillar = value
        }
        return matcher
    }

    /// RFC 3339, a local date (its midnight), or a duration before `now` (`24h`, `7d`).
    public static func time(_ text: String, now: EventTime, utcOffsetMinutes: Int) throws(Invalid) -> Int64 {
        if let time = RFC3339.parse(Array(text.utf8)) { return time.milliseconds }
        if let day = RFC3339.parse(Array("\(text)T00:00:00\(TimeText.offsetText(utcOffsetMinutes))".utf8)) {
            return day.milliseconds
        }
        if let seconds = TimeText.seconds(text), seconds >= 0, seconds < 100 * 366 * 86400 {
            return now.milliseconds - Int64(seconds * 1000)
        }
        throw Invalid(
            description: "expected a time (RFC 3339), a date (2026-11-23) or a duration ago (24h), found '\(text)'")
    }

    public static func resolution(_ text: String?, stored: Int64) throws(Invalid) -> Int64 {
        guard let text else { return 0 }
        guard let seconds = TimeText.seconds(text), seconds >= 1 else {
            throw Invalid(description: "expected a resolution such as 5m, 1h or 1d, found '\(text)'")
        }
        let ms = Int64(seconds * 1000)
        guard ms % stored == 0, ms <= 366 * 86_400_000 else {
            throw Invalid(
                description:
                    "the resolution must be a multiple of the stored \(TimeText.format(Double(stored) / 1000)), found \(text)"
            )
        }
        return ms
    }

    public init(
        series: String, from: String?, to: String?, resolution: String?, storedResolution: Int64, now: EventTime,
        utcOffsetMinutes: Int
    ) throws(Invalid) {
        matcher = try Self.matcher(series)
        self.to =
            try to.map { (t: String) throws(Invalid) in try Self.time(t, now: now, utcOffsetMinutes: utcOffsetMinutes) }
            ?? now.milliseconds
        self.from =
            try from.map { (t: String) throws(Invalid) in try Self.time(t, now: now, utcOffsetMinutes: utcOffsetMinutes)
            }
            ?? self.to - 86_400_000
        guard self.from < self.to else { throw Invalid(description: "the period is empty: from is not before to") }
        self.resolution = try Self.resolution(resolution, stored: storedResolution)
    }
}
