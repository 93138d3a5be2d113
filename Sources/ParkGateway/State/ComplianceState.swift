import Foundation
import Logging
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// The open compliance periods (each station's hour, day and calendar year so far) saved in
/// the state directory with `AtomicFile`, so a restart does not lose a year's daily means.
package enum ComplianceState {
    /// 2: trackers keep an open hour's readings (time weights, revisions).
    package static let version = 2

    package struct Document: Codable {
        package var version: Int
        package var savedMilliseconds: Int64
        package var trackers: [Entry]
    }

    package struct Entry: Codable {
        package var park, zone, pillar, kind, sensor: String
        package var tracker: ComplianceTracker
    }

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        // An empty hour's maximum is -infinity.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        encoder.outputFormatting = .sortedKeys
        return encoder
    }

    package static func save(_ pipeline: IngestPipeline, to path: String, at time: EventTime) throws {
        let entries = pipeline.complianceTrackers.map { id, tracker in
            Entry(
                park: id.park, zone: id.zone, pillar: id.pillar.rawValue, kind: id.kind, sensor: id.sensor,
                tracker: tracker)
        }
        let data = try encoder().encode(
            Document(version: version, savedMilliseconds: time.milliseconds, trackers: entries))
        try AtomicFile.write(Array(data) + [0x0A], to: path)
    }

    /// Restores the saved periods if there is a file; one that cannot be read is moved aside.
    package static func restore(_ pipeline: IngestPipeline, from path: String, logger: Logger) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let document = try decoder.decode(Document.self, from: data)
            guard document.version == version else { throw FeedError("unknown version \(document.version)") }
            var saved: [(SeriesID, ComplianceTracker)] = []
            for entry in document.trackers {
                guard let pillar = Pillar(rawValue: entry.pillar) else { throw FeedError("unknown pillar") }
                saved.append(
                    (
                        SeriesID(
                            park: entry.park, zone: entry.zone, pillar: pillar, kind: entry.kind, sensor: entry.sensor),
                        entry.tracker
                    ))
            }
            let restored = pipeline.restoreCompliance(saved)
            logger.notice("restored the open compliance periods of \(restored) stations from \(path)")
        } catch {
            let aside = path + ".corrupt"
            try? FileManager.default.removeItem(atPath: aside)
            try? FileManager.default.moveItem(atPath: path, toPath: aside)
            logger.error(
                "compliance state '\(path)' could not be read (\(error)); moved aside to \(aside), periods start afresh"
            )
        }
    }
}
