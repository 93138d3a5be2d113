import Foundation
import Logging
import TelemetryCore
import Testing
import UplinkWire

@testable import ParkCentral
@testable import ParkConfig
@testable import ParkGateway
@testable import ParkIngest

@Suite("Window snapshots")
struct SnapshotTests {
    func pipeline(_ windows: [WindowSpec] = WindowSpec.defaults()) -> IngestPipeline {
        IngestPipeline(
            settings: .init(
                routes: [TopicRoute(pattern: try! TopicPattern(TopicPattern.defaultPattern))], windows: windows),
            logger: Logger(label: "test"))
    }

    func feed(_ p: IngestPipeline, seed: UInt64, count: Int, start: Int64) {
        var random = SeededRandom(seed: seed)
        for i in 0..<count {
            let sensor = Int.random(in: 0..<6, using: &random)
            let kind = sensor < 3 ? "pm25" : "energy"
            let time = start + Int64(i) * Int64.random(in: 1_000...90_000, using: &random) / 4
            let value =
                kind == "energy" ? Double(i) * 3 : (Double.random(in: 0...300, using: &random) * 100).rounded() / 100
            let status = Int.random(in: 0..<15, using: &random) == 0 ? "calibrating" : "ok"
            p.ingest(
                topic: "parks/p/z/\(kind == "energy" ? "energy" : "emissions")/\(kind)/s\(sensor)",
                payload: Array(#"{"value": \#(value), "ts": \#(time), "status": "\#(status)", "seq": \#(i)}"#.utf8),
                arrival: EventTime(milliseconds: time))
        }
    }

    @Test("a restored pipeline holds exactly the same windows, and goes on identically (property)", arguments: 1...8)
    func roundTrip(seed: UInt64) throws {
        let original = pipeline()
        let start = Int64(1_795_400_000_000)
        feed(original, seed: seed, count: 800, start: start)
        let bytes = original.snapshot(at: EventTime(milliseconds: start))
        _ = original.takeInterval()  // summary accumulators are not in a snapshot: start both afresh
        let restored = pipeline()
        let (series, saved) = try restored.restore(snapshot: bytes)
        #expect(series == original.seriesCount && saved.milliseconds == start)
        // Both go on with the same traffic and must agree on every series, bucket for bucket.
        feed(original, seed: seed &+ 100, count: 300, start: start + 800 * 20_000)
        feed(restored, seed: seed &+ 100, count: 300, start: start + 800 * 20_000)
        for sensor in 0..<6 {
            let kind = sensor < 3 ? "pm25" : "energy"
            let id = SeriesID(
                park: "p", zone: "z", pillar: kind == "energy" ? .energy : .emissions, kind: kind, sensor: "s\(sensor)")
            let a = try #require(original.seriesState(id))
            let b = try #require(restored.seriesState(id))
            #expect(a.counts == b.counts && a.watermark == b.watermark)
            #expect("\(a.raw.readings)" == "\(b.raw.readings)")
            for (ra, rb) in zip(a.windows, b.windows) {
                // Compared as text: empty buckets hold NaN first/last values, which never equal themselves.
                #expect(
                    "\(ra.buckets(endingAt: a.watermark!).map(\.stats))"
                        == "\(rb.buckets(endingAt: b.watermark!).map(\.stats))")
            }
        }
        let ta = original.takeInterval(from: EventTime(milliseconds: start), to: EventTime(milliseconds: start + 1))
        let tb = restored.takeInterval(from: EventTime(milliseconds: start), to: EventTime(milliseconds: start + 1))
        #expect(
            ta.parks.first { $0.pillar == .energy }?.energyKWh == tb.parks.first { $0.pillar == .energy }?.energyKWh)
    }

    @Test("a streamed snapshot is the same bytes in pieces of about a mebibyte, and the file holds it whole")
    func streamed() throws {
        let p = pipeline()
        // 3 000 series of two readings: about 2 MB, so more than one piece.
        for k in 0..<3000 {
            for (i, value) in [12.5, 14].enumerated() {
                let time = 1_795_400_000_000 + Int64(i) * 60_000
                p.ingest(
                    topic: "parks/p/z/emissions/pm25/s\(k)",
                    payload: Array(#"{"value": \#(value), "ts": \#(time)}"#.utf8),
                    arrival: EventTime(milliseconds: time))
            }
        }
        let at = EventTime(milliseconds: 1_795_400_060_000)
        let whole = p.snapshot(at: at)
        var pieces: [[UInt8]] = []
        p.snapshot(at: at) { pieces.append($0) }
        #expect(pieces.count > 2)
        #expect(Array(pieces.joined()) == whole)
        #expect(pieces.allSatisfy { $0.count < WindowSnapshot.chunkBytes + 64 * 1024 })
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("windows.snapshot").path
        try WindowState.save(p, to: path, at: at)
        #expect(FileManager.default.contents(atPath: path).map(Array.init) == whole)
        // What a restore reads: the whole file, from its start each time it is asked.
        let file = try #require(FilePieces(path, pieceBytes: 1000))
        for _ in 0..<2 {
            var read: [UInt8] = []
            let next = file.fromStart()
            while let piece = next() { read += piece }
            #expect(read == whole)
        }
        #expect(file.readError == nil)
        #expect(FilePieces(path + ".missing", pieceBytes: 1000) == nil)
        // Contents that fail part way leave the old file as it was, and no temporary beside it.
        #expect(throws: DaemonError.self) {
            try AtomicFile.write(to: path) { (write) throws(DaemonError) in
                try write(Array(repeating: 7, count: 10))
                throw .output(path: path, reason: "the encoder gave up")
            }
        }
        #expect(FileManager.default.contents(atPath: path).map(Array.init) == whole)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test("ingest and eviction while a snapshot is written: it holds the series it began with, and restores")
    func writtenWhileIngesting() throws {
        let p = pipeline()
        let t0: Int64 = 1_795_400_000_000
        func send(_ sensor: String, _ value: Double, at time: Int64) {
            p.ingest(
                topic: "parks/p/z/emissions/pm25/\(sensor)",
                payload: Array(#"{"value": \#(value), "ts": \#(time)}"#.utf8),
                arrival: EventTime(milliseconds: time))
        }
        // 3 000 series: 12 chunks of 256 series, and more than one piece of a mebibyte.
        for k in 0..<3000 {
            send("s\(k)", 12.5, at: t0)
            send("s\(k)", 14, at: t0 + 60_000)
        }
        let at = EventTime(milliseconds: t0 + 60_000)
        let quiet = p.snapshot(at: at)
        for k in 0..<p.settings.schedules { _ = p.takeInterval(schedule: k) }  // no open interval holds them
        // A week and more later every series is past its time-to-live (7 days).
        let later = EventTime(milliseconds: t0 + 8 * 86_400_000)
        var pieces: [[UInt8]] = []
        p.snapshot(at: at) { piece in
            if pieces.isEmpty {
                // Between chunks, as the ingest thread would: readings for series not yet
                // written, a new series, and a sweep that would evict them all.
                for k in 2900..<3000 { send("s\(k)", 99, at: t0 + 120_000) }
                send("new", 1, at: t0 + 120_000)
                p.tick(at: later)
                #expect(p.seriesCount == 3001)  // eviction waits for the snapshot
            }
            pieces.append(piece)
        }
        #expect(pieces.count > 2)  // two pieces of series at least, then the checksum
        let written = Array(pieces.joined())
        #expect(written.count > quiet.count - 1024 && written != quiet)  // the late readings are in it
        let restored = pipeline()
        let (count, _) = try restored.restore(snapshot: written)
        #expect(count == 3000)  // the series it began with, not the one opened meanwhile
        #expect(restored.seriesCount == 3000)
        // Series written before the readings keep what they had; those written after hold them.
        let last = Dictionary(
            uniqueKeysWithValues: restored.sensorView(windows: [], limit: 5000).series.map {
                ($0.id.sensor, $0.last?.value)
            })
        #expect(last["s0"] == 14 && last["s2899"] == 14)
        #expect((2900..<3000).allSatisfy { last["s\($0)"] == 99 })
        #expect(last["new"] == nil)
        // Once written, the sweep runs again: all of them are silent past the time-to-live.
        for k in 0..<p.settings.schedules { _ = p.takeInterval(schedule: k) }
        p.tick(at: later)
        #expect(p.seriesCount == 0)
    }

    /// The bytes in pieces of `size`, each followed by an empty one (which ends nothing), for
    /// `restore(reading:)`: from the start on each call.
    static func pieces(_ bytes: [UInt8], size: Int) -> () -> () -> [UInt8]? {
        {
            var offset = 0
            var empty = false
            return {
                empty.toggle()
                if !empty { return [] }
                guard offset < bytes.count else { return nil }
                defer { offset += size }
                return Array(bytes[offset..<min(bytes.count, offset + size)])
            }
        }
    }

    @Test(
        "a snapshot read in pieces of any size restores as read whole; torn or flipped in any piece it is refused",
        arguments: [1, 7, 8, 9, 100, 1_021, 1 << 20])
    func readInPieces(size: Int) throws {
        let original = pipeline()
        let start = Int64(1_795_400_000_000)
        feed(original, seed: UInt64(size), count: size < 8 ? 60 : 400, start: start)
        let bytes = original.snapshot(at: EventTime(milliseconds: start))
        let whole = pipeline()
        let expected = try whole.restore(snapshot: bytes)
        let restored = pipeline()
        let got = try restored.restore(reading: Self.pieces(bytes, size: size))
        #expect(got.series == expected.series && got.savedAt == expected.savedAt && got.series > 0)
        #expect(restored.snapshot(at: EventTime(milliseconds: start)) == bytes)
        // A byte flipped anywhere (the header, a series, the trailer), the file cut short, or
        // a byte too many: refused, nothing restored.
        var random = SeededRandom(seed: UInt64(size) &+ 1)
        for position in [0, 5, Int.random(in: 0..<bytes.count, using: &random), bytes.count - 9, bytes.count - 1] {
            var flipped = bytes
            flipped[position] ^= 0x10
            let target = pipeline()
            #expect(throws: SnapshotError.checksumMismatch, "byte \(position) of \(bytes.count)") {
                try target.restore(reading: Self.pieces(flipped, size: size))
            }
            #expect(target.seriesCount == 0)
        }
        for cut in [Array(bytes.prefix(bytes.count / 2)), Array(bytes.dropLast()), bytes + [0], []] {
            let target = pipeline()
            #expect(throws: SnapshotError.checksumMismatch) {
                try target.restore(reading: Self.pieces(cut, size: size))
            }
            #expect(target.seriesCount == 0)
        }
        // A file that changes between the checksum's pass and the decoding one: refused.
        var passes = 0
        let changing = pipeline()
        #expect(throws: SnapshotError.checksumMismatch) {
            try changing.restore(reading: {
                passes += 1
                var second = bytes
                if passes == 2 { second[bytes.count - 1] ^= 0x10 }  // the trailer: only the checksum sees it
                return Self.pieces(second, size: size)()
            })
        }
        #expect(passes == 2 && changing.seriesCount == 0)
        // A byte after the last series, under a checksum that holds: refused for what it is.
        var longer = Array(bytes.dropLast(8)) + [0]
        let sum = fnv1a64(longer)
        for k in 0..<8 { longer.append(UInt8(truncatingIfNeeded: sum >> (8 * UInt64(k)))) }
        let target = pipeline()
        #expect(throws: SnapshotError("trailing bytes in snapshot")) {
            try target.restore(reading: Self.pieces(longer, size: size))
        }
        #expect(target.seriesCount == 0)
    }

    @Test("a device at the snapshot's path (it never ends) is refused at once and set aside")
    func endlessFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("windows.snapshot").path
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
        let target = pipeline()
        WindowState.restore(target, from: path, logger: Logger(label: "test"))
        #expect(target.seriesCount == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: path + ".corrupt")) == "/dev/zero")
    }

    @Test("a snapshot that cannot be read (a folder at its path) is reported and left where it is")
    func unreadable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("windows.snapshot").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let target = pipeline()
        WindowState.restore(target, from: path, logger: Logger(label: "test"))
        var isFolder: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue)
        #expect(!FileManager.default.fileExists(atPath: path + ".corrupt"))
        #expect(target.seriesCount == 0)
    }

    @Test("a torn, corrupted, foreign or mismatched snapshot is refused and changes nothing")
    func refused() throws {
        let original = pipeline()
        feed(original, seed: 1, count: 200, start: 1_795_400_000_000)
        let bytes = original.snapshot(at: EventTime(milliseconds: 0))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        let target = pipeline()
        #expect(throws: SnapshotError("checksum mismatch (torn or corrupted)")) {
            try target.restore(snapshot: flipped)
        }
        #expect(throws: SnapshotError.self) { try target.restore(snapshot: Array(bytes.prefix(bytes.count / 3))) }
        #expect(throws: SnapshotError.self) { try target.restore(snapshot: Array("hello, world".utf8)) }
        #expect(target.seriesCount == 0)
        let otherWindows = pipeline([try WindowSpec(name: "1h", length: 3_600_000, bucket: 600_000)])
        let error = #expect(throws: SnapshotError.self) { try otherWindows.restore(snapshot: bytes) }
        #expect(error?.description.contains("windows") == true, "\(String(describing: error))")
        #expect(otherWindows.seriesCount == 0)
    }
}

@Suite("State files")
struct StateFileTests {
    struct Item: Codable, Equatable {
        var name: String
        var low: Double
        var high: Double
    }

    @Test("an array saved element by element is the same file as saved whole, and loads back")
    func streamedArray() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let at = EventTime(milliseconds: 1_795_400_000_000)
        // 30 000 items of about 60 bytes: pieces of a mebibyte; infinities and a NaN as text.
        let items = (0..<30_000).map { k in
            Item(name: "station \"\(k)\"", low: k == 0 ? -.infinity : Double(k) / 8, high: k == 1 ? .nan : .infinity)
        }
        for sample in [items, [items[0]], []] {
            let whole = folder.appendingPathComponent("whole.json").path
            let streamed = folder.appendingPathComponent("streamed.json").path
            try StateFile.saveJSON(sample, version: 7, to: whole, at: at)
            try StateFile.saveJSONArray(sample, version: 7, to: streamed, at: at)
            #expect(FileManager.default.contents(atPath: streamed) == FileManager.default.contents(atPath: whole))
            var loaded: [Item]?
            StateFile.loadJSON(
                [Item].self, version: 7, from: streamed, what: "test", then: "-", logger: Logger(label: "test")
            ) { loaded = $0 }
            #expect(loaded?.count == sample.count)
            #expect(loaded?.dropFirst(2) == sample.dropFirst(2))  // the first two hold NaN or -inf
        }
    }

    @Test(
        "a saved array is loaded element by element from pieces of any size; a damaged one is set aside, a file laid out otherwise is read whole",
        arguments: [1, 7, 4096, 1 << 22])
    func arrayLoadedInPieces(pieceBytes: Int) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let at = EventTime(milliseconds: 1_795_400_000_000)
        // Names with what the element scanner must see through: brackets, braces, commas and
        // quotes inside strings, escaped quotes and backslashes.
        // A name may end in a backslash or hold one escaped quote.
        let names = ["plain", "a],[b", "{\"x\": [1, 2]}", "back\\slash\\", "tab\t, \"q\"]", "ú ở ,]", "x\\", "a\",1]"]
        let count = pieceBytes == 1 ? 40 : 3_000
        let items = (0..<count).map { k in Item(name: "\(k)" + names[k % names.count], low: Double(k) / 8, high: 2) }
        let path = folder.appendingPathComponent("array.json").path
        func load(_ version: Int = 7, read: StateFile.ArrayRead = .pieces) -> [Item]? {
            var loaded: [Item]?
            let how = StateFile.loadJSONArray(
                Item.self, version: version, from: path, what: "test", then: "-", logger: Logger(label: "test"),
                pieceBytes: pieceBytes
            ) { loaded = $0 }
            #expect(how == read)
            return loaded
        }
        for sample in [items, [items[1]], []] {
            try StateFile.saveJSONArray(sample, version: 7, to: path, at: at)
            #expect(load() == sample)
        }
        // Another layout (spaces, another key order) is read whole, as before.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .prettyPrinted
        let other = try encoder.encode(StateFile.Document(version: 7, savedMilliseconds: 0, payload: items))
        try other.write(to: URL(fileURLWithPath: path))
        #expect(load(read: .whole) == items)
        // Whitespace between the array and what follows it is JSON too.
        try StateFile.saveJSONArray(items, version: 7, to: path, at: at)
        let saved = try #require(FileManager.default.contents(atPath: path))
        let spaced = String(decoding: saved, as: UTF8.self)
            .replacingOccurrences(of: "],\"savedMilliseconds\"", with: "] \n,\"savedMilliseconds\"")
        try Data(spaced.utf8).write(to: URL(fileURLWithPath: path))
        #expect(load() == items)
        // Damaged: an element cut, the array never closed, another version. Each is set aside.
        try StateFile.saveJSONArray(items, version: 7, to: path, at: at)
        let good = try #require(FileManager.default.contents(atPath: path))
        let comma = try #require(good.firstIndex(of: UInt8(ascii: ",")))
        for damaged in [
            good.subdata(in: 0..<comma - 3) + good.subdata(in: comma..<good.count),
            good.prefix(good.count / 2), good.prefix(good.count - 40),
        ] {
            try? FileManager.default.removeItem(atPath: path + ".corrupt")
            try damaged.write(to: URL(fileURLWithPath: path))
            #expect(load() == nil)
            #expect(FileManager.default.fileExists(atPath: path + ".corrupt"))
        }
        try StateFile.saveJSONArray(items, version: 7, to: path, at: at)
        #expect(load(8) == nil)
        #expect(FileManager.default.fileExists(atPath: path + ".corrupt"))
        // A comma with no element after it, which the whole-document decoder refuses too.
        try StateFile.saveJSONArray(items, version: 7, to: path, at: at)
        let listed = String(decoding: try #require(FileManager.default.contents(atPath: path)), as: UTF8.self)
        try Data(listed.replacingOccurrences(of: "],\"savedMilliseconds\"", with: ",],\"savedMilliseconds\"").utf8)
            .write(to: URL(fileURLWithPath: path))
        try? FileManager.default.removeItem(atPath: path + ".corrupt")
        #expect(load() == nil)
        #expect(FileManager.default.fileExists(atPath: path + ".corrupt"))
    }
}
