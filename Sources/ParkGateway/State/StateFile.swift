import Foundation
import Logging
import TelemetryCore

/// What every state file of parkd shares: written whole with `AtomicFile`, and a file that
/// cannot be read is moved aside (`.corrupt`) and reported, never fatal. `JSON` is the
/// versioned document the compliance periods and the regulator feed are saved in.
package enum StateFile {
    /// Moves an unreadable state file aside (replacing an older one) and says so.
    package static func moveAside(_ path: String, what: String, error: any Error, then: String, logger: Logger) {
        let aside = path + ".corrupt"
        try? FileManager.default.removeItem(atPath: aside)
        try? FileManager.default.moveItem(atPath: path, toPath: aside)
        logger.error("\(what) '\(path)' could not be read (\(error)); moved aside to \(aside), \(then)")
    }

    package struct Document<Payload: Codable>: Codable {
        var version: Int
        var savedMilliseconds: Int64
        var payload: Payload
    }

    /// JSON with infinities as text (an empty hour's maximum is -infinity), keys sorted.
    private static let strategy = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    package static func saveJSON<Payload: Codable>(
        _ payload: Payload, version: Int, to path: String, at time: EventTime
    )
        throws
    {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: strategy.positiveInfinity, negativeInfinity: strategy.negativeInfinity, nan: strategy.nan)
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(
            Document(version: version, savedMilliseconds: time.milliseconds, payload: payload))
        try AtomicFile.write(Array(data) + [0x0A], to: path)
    }

    /// As `saveJSON` for an array payload, the same bytes, written an element at a time in
    /// pieces of about a mebibyte: 100 000 stations' compliance trackers encoded as one
    /// document took 200 MiB at their peak, every snapshot interval.
    package static func saveJSONArray<Element: Codable>(
        _ elements: some Sequence<Element>, version: Int, to path: String, at time: EventTime
    ) throws {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: strategy.positiveInfinity, negativeInfinity: strategy.negativeInfinity, nan: strategy.nan)
        encoder.outputFormatting = .sortedKeys
        // Document's keys sorted: payload, savedMilliseconds, version.
        try AtomicFile.write(to: path) { (write) throws(DaemonError) in
            var piece = JSONArrayPieces.opening
            var first = true
            for element in elements {
                if !first { piece.append(UInt8(ascii: ",")) }
                first = false
                do {
                    piece.append(contentsOf: try encoder.encode(element))
                } catch {
                    throw .output(path: path, reason: "cannot encode: \(error)")
                }
                if piece.count >= 1 << 20 {
                    try write(piece)
                    piece.removeAll(keepingCapacity: true)
                }
            }
            piece.append(contentsOf: #"],"savedMilliseconds":\#(time.milliseconds),"version":\#(version)}"#.utf8)
            piece.append(0x0A)
            try write(piece)
        }
    }

    /// The decoder of every state file: infinities and NaN as text.
    private static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: strategy.positiveInfinity, negativeInfinity: strategy.negativeInfinity, nan: strategy.nan)
        return decoder
    }

    /// What follows a saved array.
    private struct ArrayTail: Decodable {
        var savedMilliseconds: Int64
        var version: Int
    }

    /// As `loadJSON` for an array saved by `saveJSONArray`: the file read in pieces and each
    /// element decoded on its own, so that neither the file nor a JSON tree of all of it is in
    /// memory (100 000 stations' compliance periods: about 150 MiB held while a restart
    /// decoded them). A file laid out otherwise is read whole, as `loadJSON` reads it. Returns
    /// how the file was read (`.pieces` even when it was then refused).
    @discardableResult
    package static func loadJSONArray<Element: Codable>(
        _ type: Element.Type, version: Int, from path: String, what: String, then: String, logger: Logger,
        pieceBytes: Int = 4 << 20, accept: ([Element]) throws -> Void
    ) -> ArrayRead {
        guard let file = FilePieces(path, pieceBytes: pieceBytes) else { return .none }
        let decoder = makeDecoder()
        var elements: [Element] = []
        var pieces = JSONArrayPieces()
        do {
            let next = file.fromStart()
            while let piece = next() {
                let laidOut = try pieces.add(piece) { bytes in
                    elements.append(try decoder.decode(Element.self, from: Data(bytes)))
                }
                guard laidOut else {
                    loadJSON(
                        [Element].self, version: version, from: path, what: what, then: then, logger: logger,
                        accept: accept)
                    return .whole
                }
            }
            if let readError = file.readError {
                logger.error("\(what) '\(path)' could not be read (\(readError)); \(then)")
                return .pieces
            }
            // What follows the array: `,"savedMilliseconds":…,"version":…}`.
            let rest = pieces.rest.drop(while: { [0x20, 0x0A, 0x0D, 0x09].contains($0) })
            guard pieces.closed, rest.first == UInt8(ascii: ",") else {
                throw FeedError("the file ends inside its array")
            }
            let tail = try decoder.decode(ArrayTail.self, from: Data([UInt8(ascii: "{")] + rest.dropFirst()))
            guard tail.version == version else { throw FeedError("unknown version \(tail.version)") }
            try accept(elements)
        } catch {
            moveAside(path, what: what, error: error, then: then, logger: logger)
        }
        return .pieces
    }

    /// How `loadJSONArray` read a file.
    package enum ArrayRead {
        /// There was none.
        case none
        /// In pieces, an element at a time.
        case pieces
        /// Whole, laid out otherwise than `saveJSONArray` writes.
        case whole
    }

    /// The saved payload, or nil when there is no file; a file of another version, or one
    /// `accept` refuses, is moved aside with `then` saying what starts afresh.
    package static func loadJSON<Payload: Codable>(
        _ type: Payload.Type, version: Int, from path: String, what: String, then: String, logger: Logger,
        accept: (Payload) throws -> Void
    ) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        do {
            let decoder = makeDecoder()
            let document = try decoder.decode(Document<Payload>.self, from: data)
            guard document.version == version else { throw FeedError("unknown version \(document.version)") }
            try accept(document.payload)
        } catch {
            moveAside(path, what: what, error: error, then: then, logger: logger)
        }
    }
}
