import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback ports for test servers.
///
/// A port the kernel hands out for bind(0) comes from the ephemeral range, the same range it
/// takes the local ports of outgoing connections from: between picking it and the broker's
/// bind, any client connecting anywhere could be given it, and the broker then fails with
/// "Address already in use". So ports are picked below the ephemeral range, where the kernel
/// never allocates, and never twice in one test process.
public enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])

    /// The kernel's ephemeral range (`ip_local_port_range`), 32768–60999 by default.
    static let ephemeral: ClosedRange<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        return parts.count == 2 && parts[0] <= parts[1] ? parts[0]...parts[1] : 32768...60999
    }()

    /// A loopback port outside the ephemeral range that nothing is bound to now.
    public static func pick() throws -> Int {
        let candidates = ephemeral.lowerBound > 12_000 ? 10_000..<ephemeral.lowerBound : 61_000..<65_535
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let port = Int.random(in: candidates, using: &generator)
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh, canBind(port) { return port }
        }
        throw HarnessError("no free loopback port in \(candidates) after 500 tries")
    }

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }

    /// Whether something accepts TCP connections on 127.0.0.1:port.
    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }

    public static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}
