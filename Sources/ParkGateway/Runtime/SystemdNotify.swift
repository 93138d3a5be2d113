import Foundation
import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// The systemd readiness protocol (sd_notify(3)), written by hand: one datagram to the Unix
/// socket named by `NOTIFY_SOCKET`. With `Type=notify` systemd holds `systemctl reload` (and
/// units ordered after parkd) until parkd says READY=1, which it does only once its SIGHUP
/// handler is installed and it is ingesting: a reload right after start can no longer kill it.
package enum SystemdNotify {
    /// Sends `state` (e.g. `READY=1`); false when not under systemd or the send failed.
    @discardableResult
    package static func send(_ state: String) -> Bool {
        guard var path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        // A leading '@' names an abstract socket: a NUL byte in the address.
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let offset = abstract ? 1 : 0
        guard bytes.count + offset < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index + offset] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + offset + bytes.count + (abstract ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, pointer, length) }
            }
        }
        return sent == message.count
    }
}
