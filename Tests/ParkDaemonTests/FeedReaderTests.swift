import Foundation
import Testing

@testable import ParkGateway

#if canImport(Glibc)
    import Glibc
#endif

/// The replay's feed reader maps the file and hands out lines in place: every way a line can
/// end, an empty file, a last line without a newline, and a feed that is a pipe.
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
}
