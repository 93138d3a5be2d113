import TelemetryCore
import UplinkWire

/// The bytes of a window snapshot: every series' window state, versioned and checksummed.
/// Version 2 adds when each series last arrived and when the rule engine started (liveness);
/// version 3 each bucket's energy sum (LAeq); version 4 only the buckets ever used, a blank
/// one as a flag. Versions 1 to 3 are still read: their series taken as seen when the snapshot
/// was saved (1), their energy sums unknown (1, 2).
package enum WindowSnapshot {
    package static let magic: [UInt8] = Array("PTWS".utf8)
    package static let version: UInt8 = SeriesState.snapshotVersion
    /// A streamed snapshot hands its bytes out in pieces of about this size: the whole file is
    /// never in memory (at 100 000 series it was, every minute, on top of the series).
    package static let chunkBytes = 1 << 20

    package struct Series {
        package var id: SeriesID
        package var counter: Double?
        package var arrival: Int64
        package var state: SeriesState
    }

    /// Series encoded per call of `encode`'s `chunk`: the caller holds its lock that long
    /// (about a millisecond), and ingest runs between chunks.
    package static let seriesPerChunk = 256

    /// Every series' state, handed to `write` in pieces of about `chunkBytes`, the checksum last.
    /// `chunk` writes series of a range of slots with `encodeSeries`, in order, under whatever
    /// lock guards them, and returns the slot after the last it wrote (it stops early once the
    /// writer holds `chunkBytes`). Nothing is copied, so ingest that goes on meanwhile
    /// duplicates nothing: a copy-on-write snapshot of 100 000 series copied the buckets of
    /// every series that took a reading while the file was written, 200 MiB on top of them.
    package static func encode<E: Error>(
        at time: EventTime, engineStartedAt started: EventTime?, count: Int,
        chunk: (Range<Int>, inout ByteWriter) -> Int, write: ([UInt8]) throws(E) -> Void
    ) throws(E) {
        var w = ByteWriter()
        var checksum = FNV1a64()
        func flush() throws(E) {
            w.bytes.withUnsafeBytes { checksum.add($0) }
            try write(w.bytes)
            w.reset()
        }
        for byte in magic { w.u8(byte) }
        w.u8(version)
        w.i64(time.milliseconds)
        w.bool(started != nil)
        w.i64(started?.milliseconds ?? 0)
        w.int(count)
        var next = 0
        while next < count {
            let end = chunk(next..<min(count, next + seriesPerChunk), &w)
            precondition(end > next && end <= count, "a snapshot chunk must write series of its range, in order")
            next = end
            if w.count >= chunkBytes { try flush() }
        }
        try flush()
        w.u64(checksum.value)
        try write(w.bytes)
    }

    /// One series' record in a snapshot.
    package static func encodeSeries(
        _ id: SeriesID, counter: Double?, arrival: Int64, state: borrowing SeriesState, into w: inout ByteWriter
    ) {
        w.string(id.park)
        w.string(id.zone)
        w.string(id.pillar.rawValue)
        w.string(id.kind)
        w.string(id.sensor)
        w.bool(counter != nil)
        w.double(counter ?? 0)
        w.i64(arrival)
        state.encode(&w)
    }

    /// Decodes a snapshot from a file read in pieces: each call of `open` reads it again from
    /// its start, and the function it returns gives the next piece (nil at the end). Only a
    /// piece or two is in memory at a time, not the whole file beside the series it holds (at
    /// 100 000 series the file is 150 MiB). The file is read twice: its checksum is checked
    /// first, so that the decoder never meets a torn or corrupted file, then it is decoded
    /// (and checked again, in case it changed in between). A torn, corrupt or foreign file
    /// throws. `settings` gives each series' window settings (the windows must match the
    /// configuration's).
    package static func decode(
        reading open: () -> () -> [UInt8]?, maxSeries: Int, windows: [WindowSpec],
        settings: (SeriesID) -> SeriesState.SharedSettings
    ) throws(SnapshotError) -> (series: [Series], savedAt: EventTime, engineStartedAt: EventTime?) {
        var check = Input()
        guard check.checksumHolds(open()).holds else { throw SnapshotError.checksumMismatch }
        var input = Input()
        let next = open()
        let decoded = try body(&input, next, maxSeries: maxSeries, windows: windows, settings: settings)
        let (holds, unread) = input.checksumHolds(next)
        guard holds else { throw SnapshotError.checksumMismatch }
        guard unread == 0 else { throw SnapshotError("trailing bytes in snapshot") }
        return decoded
    }

    private static func body(
        _ input: inout Input, _ next: () -> [UInt8]?, maxSeries: Int, windows: [WindowSpec],
        settings: (SeriesID) -> SeriesState.SharedSettings
    ) throws(SnapshotError) -> (series: [Series], savedAt: EventTime, engineStartedAt: EventTime?) {
        let (found, saved, started, count) = try input.read(next) {
            (r) throws(SnapshotError) -> (UInt8, EventTime, EventTime?, Int) in
            for byte in magic {
                guard try r.u8() == byte else { throw SnapshotError("not a window snapshot") }
            }
            let found = try r.u8()
            guard (1...version).contains(found) else {
                throw SnapshotError("snapshot version \(found); this parkd reads 1 to \(version)")
            }
            guard let saved = EventTime(checkedMilliseconds: try r.i64()) else { throw SnapshotError("bad time") }
            var started: EventTime?
            if found >= 2 {
                let hasStart = try r.bool()
                let start = try r.i64()
                if hasStart {
                    guard let time = EventTime(checkedMilliseconds: start) else { throw SnapshotError("bad time") }
                    started = time
                }
            }
            return (found, saved, started, try r.count(max: maxSeries))
        }
        var restored: [Series] = []
        restored.reserveCapacity(count)
        for _ in 0..<count {
            let series = try input.read(next) { (r) throws(SnapshotError) -> Series in
                let park = try r.string()
                let zone = try r.string()
                guard let pillar = Pillar(rawValue: try r.string()) else {
                    throw SnapshotError("unknown pillar in snapshot")
                }
                let id = SeriesID(park: park, zone: zone, pillar: pillar, kind: try r.string(), sensor: try r.string())
                let hasCounter = try r.bool()
                let counter = try r.double()
                var arrival = saved.milliseconds
                if found >= 2 {
                    arrival = try r.i64()
                    guard EventTime.representable.contains(arrival) else { throw SnapshotError("bad time") }
                }
                let state = try SeriesState(decoding: &r, windows: windows, shared: settings(id), version: found)
                return Series(id: id, counter: hasCounter ? counter : nil, arrival: arrival, state: state)
            }
            restored.append(series)
        }
        return (restored, saved, started)
    }

    /// A snapshot's bytes as they are read: the piece at hand, its last 8 bytes held back (the
    /// checksum trailer, once the file has ended), and the checksum of the body read before it.
    private struct Input {
        private var buffer: [UInt8] = []
        private var start = 0
        private var ended = false
        private var body = FNV1a64()

        private var readable: Int { max(start, buffer.count - 8) }

        /// Reads one item from the bytes at hand; one that runs past them is read again with
        /// the file's next piece added (an item that spans pieces is decoded twice).
        mutating func read<T>(
            _ next: () -> [UInt8]?, _ item: (inout ByteReader) throws(SnapshotError) -> T
        ) throws(SnapshotError) -> T {
            while true {
                var reader = ByteReader(buffer, from: start, end: readable)
                do throws(SnapshotError) {
                    let value = try item(&reader)
                    start = reader.offset
                    return value
                } catch {
                    guard error == .endsEarly, !ended else { throw error }
                }
                more(next)
            }
        }

        /// Moves what was read into the checksum, and the file's next piece in (an empty
        /// piece is no end).
        private mutating func more(_ next: () -> [UInt8]?) {
            buffer.withUnsafeBytes { body.add(UnsafeRawBufferPointer(rebasing: $0[..<start])) }
            buffer.removeSubrange(..<start)
            start = 0
            while let piece = next() {
                if piece.isEmpty { continue }
                buffer.append(contentsOf: piece)
                return
            }
            ended = true
        }

        /// Reads the file to its end: whether its last 8 bytes are the checksum of all before
        /// them, and how many body bytes were left unread.
        mutating func checksumHolds(_ next: () -> [UInt8]?) -> (holds: Bool, unread: Int) {
            var unread = 0
            while true {
                unread += readable - start
                start = readable
                if ended { break }
                more(next)
            }
            guard buffer.count == 8 + start else { return (false, unread) }  // shorter than its trailer
            buffer.withUnsafeBytes { body.add(UnsafeRawBufferPointer(rebasing: $0[..<start])) }
            var trailer = ByteReader(Array(buffer[start...]))
            return ((try? trailer.u64()) == body.value, unread)
        }
    }
}
