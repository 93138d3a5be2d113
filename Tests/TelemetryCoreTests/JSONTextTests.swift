import Foundation
import Testing

@testable import TelemetryCore

@Suite("Quoting text for the JSON Lines outputs")
struct JSONTextTests {
    /// What a JSON reader makes of `quoted` (a JSON string, quotes included).
    private func read(_ quoted: String) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: [.fragmentsAllowed])
        return try #require(value as? String)
    }

    @Test("plain names are appended whole, and anything else escaped as before")
    func fixedCases() throws {
        // Printable ASCII without a quote or a backslash: the fast path, verbatim.
        #expect(JSONText.quoted("park-1/zone A_pm2.5") == #""park-1/zone A_pm2.5""#)
        #expect(JSONText.quoted("") == #""""#)
        // The escapes, written out by hand.
        #expect(JSONText.quoted("a\"b") == #""a\"b""#)
        #expect(JSONText.quoted("a\\b") == #""a\\b""#)
        #expect(JSONText.quoted("l1\nl2\r\t") == #""l1\nl2\r\t""#)
        #expect(JSONText.quoted("\u{1}") == #""\u0001""#)
        #expect(JSONText.quoted("del\u{7f}") == #""del\u007f""#)
        #expect(JSONText.quoted("c1\u{85}") == #""c1\u0085""#)
        #expect(JSONText.quoted("ls\u{2028}ps\u{2029}") == #""ls\u2028ps\u2029""#)
        // Other non-ASCII text stays as it is.
        #expect(JSONText.quoted("Khí thải µg/m³") == "\"Khí thải µg/m³\"")
    }

    @Test("any text reads back as itself, with no raw control or line separator left in it")
    func property() throws {
        let alphabet: [Unicode.Scalar] =
            Array("az AZ09-_/.:".unicodeScalars) + [
                "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "\u{80}",
                "\u{9f}", "\u{a0}", "é", "\u{2028}", "\u{2029}", "ư", "😀",
            ]
        var random = SeededRandom(seed: 2026)
        for _ in 0..<2_000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<Int(random.next() % 24) { text.append(alphabet[Int(random.next() % UInt64(alphabet.count))]) }
            let value = String(text)
            let quoted = JSONText.quoted(value)
            #expect(try read(quoted) == value, "\(quoted)")
            let raw = quoted.unicodeScalars.dropFirst().dropLast()
            #expect(
                !raw.contains {
                    $0.value < 0x20 || (0x7f..<0xa0).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029
                }, "\(quoted)")
        }
    }
}
