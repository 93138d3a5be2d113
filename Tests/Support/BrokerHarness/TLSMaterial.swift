import Foundation

/// A certificate authority and a server certificate for localhost/127.0.0.1, made by openssl
/// for one test, plus a second, unrelated CA to show that a wrong CA is refused.
public struct TLSMaterial: Sendable {
    public let directory: String
    public var caFile: String { directory + "/ca.crt" }
    public var serverCertFile: String { directory + "/server.crt" }
    public var serverKeyFile: String { directory + "/server.key" }
    public var otherCAFile: String { directory + "/other-ca.crt" }

    /// `serverNames` go into the server certificate's subjectAltName.
    public static func generate(serverNames: String = "DNS:localhost,IP:127.0.0.1") throws -> TLSMaterial {
        let directory = try Scratch.makeDirectory(prefix: "tls")
        let openssl = try Command.find("openssl")
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        func run(_ arguments: [String]) throws { try Command.run(openssl, arguments, directory: directory) }
        try run(
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ParkTelemetry Test CA",
            ])
        try run(
            ["req", "-x509"] + ec + [
                "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=Unrelated CA",
            ])
        try run(["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
        try "subjectAltName=\(serverNames)\n".write(
            to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        try run([
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
        ])
        return TLSMaterial(directory: directory.path)
    }
}
