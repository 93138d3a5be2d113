/// The elements of the array a `StateFile.saveJSONArray` file begins with
/// (`{"payload":[…],…}`), found in the file's bytes as they are read: each element's bytes
/// are handed out whole, and only the element being read is held. Strings (with their
/// escapes) and nesting are followed byte by byte; a file that does not begin so (`add`
/// returns false), or whose array never closes (`closed` false at the end), is left to the
/// caller.
struct JSONArrayPieces {
    static let opening = Array(#"{"payload":["#.utf8)

    private var buffer: [UInt8] = []
    /// The next byte to look at, and where the element being read begins (nil between them).
    private var next = 0
    private var start: Int?
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var opened = false
    /// The last separator was a comma: an element must follow (`[1,]` is refused).
    private var afterComma = false
    /// Whether the array's `]` was met; `rest` holds what came after it.
    private(set) var closed = false
    private(set) var rest: [UInt8] = []

    /// Takes the next piece of the file and hands out the elements it completes. Returns false
    /// when the file does not begin as a saved array does.
    mutating func add(_ piece: [UInt8], _ element: (ArraySlice<UInt8>) throws -> Void) rethrows -> Bool {
        if closed {
            rest += piece
            return true
        }
        buffer += piece
        if !opened {
            guard buffer.count >= Self.opening.count else { return Self.opening.starts(with: buffer) }
            guard buffer.starts(with: Self.opening) else { return false }
            opened = true
            next = Self.opening.count
        }
        while next < buffer.count {
            let byte = buffer[next]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                    if start == nil { start = next }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    if start == nil { start = next }
                case UInt8(ascii: "}") where depth > 0, UInt8(ascii: "]") where depth > 0:
                    depth -= 1
                case UInt8(ascii: ",") where depth == 0, UInt8(ascii: "]"):
                    // At the array's own level: an element ends (an empty one is the caller's
                    // decoding error, as in `[,]`).
                    if let s = start {
                        try element(buffer[s..<next])
                    } else if byte == UInt8(ascii: ",") || afterComma {
                        try element(buffer[next..<next])
                    }
                    start = nil
                    afterComma = byte == UInt8(ascii: ",")
                    if byte == UInt8(ascii: "]") {
                        closed = true
                        rest = Array(buffer[(next + 1)...])
                        buffer = []
                        next = 0
                        return true
                    }
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    break
                default:
                    if start == nil { start = next }
                }
            }
            next += 1
        }
        // Keep only the element being read.
        let keep = start ?? next
        if keep > 0 {
            buffer.removeSubrange(..<keep)
            next -= keep
            if start != nil { start = 0 }
        }
        return true
    }
}
