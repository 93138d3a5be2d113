import Foundation
import Testing

@testable import ParkGateway

#if canImport(Glibc)
    import Glibc
#endif

/// The replay's feed reader hands out lines in place from large chunks: every way a line can
/// end, lines across chunk boundaries with views kept a batch long, a line longer than a
/// chunk, a file cut short while it is read, an empty file, and a pipe.
@Suite("Feed reader")
struct FeedReaderTests {
    static func lines(_ reader: FeedReader) -> [String] {
        var out: [String] = []
        while let line = reader.nextLine() { out.append(String(decoding: line, as: UTF8.self)) }
        return out
    }

    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "feed-reader-\(UUID().uuidString.prefix(8)).jsonl"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("LF, CRLF, blank lines and a last line without its newline; line numbers count every line")
    func lineEnds() throws {
        let path = try Self.file("a\nbb\r\n\n\r\nccc")
        defer { unlink(path) }
        let reader = try FeedReader(path: path)
        #expect(Self.lines(reader) == ["a", "bb", "", "", "ccc"])
        #expect(reader.lineNumber == 5)
        #expect(reader.nextLine() == nil)
    }

    @Test("an empty file has no lines; a missing one is a clear error")
    func emptyAndMissing() throws {
        let path = try Self.file("")
        defer { unlink(path) }
        #expect(Self.lines(try FeedReader(path: path)).isEmpty)
        #expect(throws: DaemonError.self) { try FeedReader(path: path + ".missing") }
    }

    @Test("a pipe is read whole, past the first megabyte")
    func pipe() throws {
        var fds: [Int32] = [0, 0]
        #expect(Glibc.pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let line = String(repeating: "x", count: 999)
        let count = 3_000  // 3 MB: more than the first buffer, and than the pipe holds
        let writer = Thread {
            let bytes = Array((line + "\n").utf8)
            for _ in 0..<count { _ = bytes.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) } }
            close(writeEnd)
        }
        writer.start()
        let reader = try FeedReader(path: "/proc/self/fd/\(readEnd)")
        close(readEnd)
        let read = Self.lines(reader)
        #expect(read.count == count)
        #expect(read.allSatisfy { $0 == line })
    }

    @Test("views stay exact a whole batch long across chunk boundaries, and past a line longer than a chunk")
    func batchesAcrossChunks() throws {
        var random = SystemRandomNumberGenerator()
        var expected = (0..<40_000).map { i in
            "\(i):" + String(repeating: "abcdefghij", count: Int.random(in: 0...30, using: &random))
        }
        expected.insert(String(repeating: "L", count: FeedReader.chunk + 12_345), at: 20_000)
        let path = try Self.file(expected.joined(separator: "\n") + "\n")
        defer { unlink(path) }
        let reader = try FeedReader(path: path)
        var k = 0
        var batch: [UnsafeBufferPointer<UInt8>] = []
        func check() {
            for view in batch {
                #expect(String(decoding: view, as: UTF8.self) == expected[k], "line \(k + 1)")
                k += 1
            }
            batch.removeAll()
            reader.releaseRead()
        }
        while let line = reader.nextLine() {
            batch.append(line)
            if batch.count == 2048 { check() }
        }
        check()
        #expect(k == expected.count)
        #expect(reader.lineNumber == expected.count)
    }

    /// Line `k` of `chunks(_:)`: its number, then filler to 990 bytes.
    static func numbered(_ k: Int) -> String { "\(k):" + String(repeating: "r", count: 990 - "\(k):".utf8.count) }

    /// A feed file of about `n` chunks of distinct lines (`numbered`), and its line count.
    static func chunks(_ n: Int) throws -> (path: String, count: Int) {
        let count = n * FeedReader.chunk / 991
        return (try file((0..<count).map { numbered($0) + "\n" }.joined()), count)
    }

    @Test("a feed read in released batches takes the buffers one batch spans, whatever its length")
    func buffersReused() throws {
        // Twenty chunks of distinct lines, released in batches of about four chunks; each
        // batch of views is checked when it is released, after the refills while it was out.
        let line = Self.numbered
        let (path, count) = try Self.chunks(20)
        defer { unlink(path) }
        let reader = try FeedReader(path: path)
        var read = 0
        var batch: [UnsafeBufferPointer<UInt8>] = []
        func release() {
            for (k, view) in batch.enumerated() {
                #expect(String(decoding: view, as: UTF8.self) == line(read - batch.count + k))
            }
            batch.removeAll()
            reader.releaseRead()
        }
        while let view = reader.nextLine() {
            batch.append(view)
            read += 1
            if read % 1_000 == 0 { release() }
        }
        release()
        #expect(read == count)
        // A batch's views span at most `span` chunks, and one more is read into while they are
        // out: the buffers released are reused (one buffer per chunk read before, 20 here).
        let span = (1_000 * 991 + FeedReader.chunk - 1) / FeedReader.chunk + 1
        #expect(reader.allocations <= span + 1)
        #expect(span + 1 < 20)
    }

    @Test("a batch of views spanning more chunks than are kept for reuse leaves only that many held")
    func sparesBounded() throws {
        // Forty chunks read with every view out (a replay batch of blank lines, which count
        // toward neither of its caps, spans as many), then released at once.
        let line = Self.numbered
        let (path, count) = try Self.chunks(40)
        defer { unlink(path) }
        let reader = try FeedReader(path: path)
        var views: [UnsafeBufferPointer<UInt8>] = []
        while let view = reader.nextLine() { views.append(view) }
        #expect(views.count == count)
        #expect(String(decoding: views[count / 2], as: UTF8.self) == line(count / 2))
        #expect(reader.allocations >= 40)
        reader.releaseRead()
        #expect(reader.spareCount == FeedReader.maxSpares)
    }

    @Test("a feed cut short while it is read ends early: no crash, every line before the cut exact")
    func truncatedWhileRead() throws {
        let line = String(repeating: "t", count: 99)
        let path = try Self.file(String(repeating: line + "\n", count: 100_000))  // 10 MB
        defer { unlink(path) }
        let reader = try FeedReader(path: path)
        var count = 0
        while count < 1_000, let view = reader.nextLine() {
            #expect(String(decoding: view, as: UTF8.self) == line)
            count += 1
        }
        reader.releaseRead()
        #expect(truncate(path, 5_000_050) == 0)  // 50 000 lines and half of the next
        var last = ""
        while let view = reader.nextLine() {
            last = String(decoding: view, as: UTF8.self)
            count += 1
            reader.releaseRead()
        }
        #expect(count == 50_001)
        #expect(last == String(repeating: "t", count: 50))
    }
}
