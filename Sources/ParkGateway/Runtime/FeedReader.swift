import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a feed file one line at a time (`getline`), whatever its size.
package final class FeedReader {
    package let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private(set) var lineNumber = 0

    package init(path: String) throws(DaemonError) {
        self.path = path
        guard let file = fopen(path, "r") else {
            throw .input(path: path, reason: String(cString: strerror(errno)))
        }
        self.file = file
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    /// The next line's bytes without its newline; nil at the end of the file.
    package func nextLine() -> [UInt8]? {
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else { return nil }
        lineNumber += 1
        var count = length
        while count > 0 && (buffer[count - 1] == 0x0A || buffer[count - 1] == 0x0D) { count -= 1 }
        return buffer.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
    }
}
