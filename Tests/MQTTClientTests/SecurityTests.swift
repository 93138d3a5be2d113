import BrokerHarness
import Foundation
import MQTTClient
import Testing

@Suite("TLS and authentication against a real mosquitto")
struct SecurityTests {
    @Test("TLS with the right CA round-trips; hostname verification is on by default")
    func tlsRoundTrip() throws {
        let tls = try TLSMaterial.generate()
        let broker = try Broker(.init(tls: tls))
        #expect(broker.url.hasPrefix("mqtts://"))
        let inbox = Inbox()
        let client = try MQTTClient.make(
            broker.url, id: "tls-ok", subscriptions: [.init("secure/#", qos: .atLeastOnce)], inbox: inbox
        ) { $0.tls = .init(caFile: tls.caFile) }
        #expect(client.configuration.tls?.verifyHostname == true)
        try client.waitUntilConnected(timeout: 10)
        #expect(inbox.wait { _, events in events.subscribedCount == 1 })
        try client.publish("secure/a", text: "sealed", qos: .atLeastOnce)
        #expect(inbox.wait(forMessages: 1))
        #expect(inbox.received.first?.payload == Array("sealed".utf8))
    }

    @Test("a wrong CA fails with libmosquitto's TLS error, not a hang")
    func tlsWrongCA() throws {
        let tls = try TLSMaterial.generate()
        let broker = try Broker(.init(tls: tls))
        let client = try MQTTClient.make(broker.url, id: "tls-wrong") { $0.tls = .init(caFile: tls.otherCAFile) }
        let error = #expect(throws: MQTTError.self) { try client.waitUntilConnected(timeout: 10) }
        let text = error?.description ?? ""
        #expect(text.contains("TLS") || text.contains("certificate"), "\(text)")
        #expect(text.contains("certificate verify failed"), "\(text)")
        #expect(!client.isConnected)
    }

    @Test("a server certificate for another name is refused unless verification is turned off")
    func tlsHostnameMismatch() throws {
        let tls = try TLSMaterial.generate(serverNames: "DNS:other-gateway.example")
        let broker = try Broker(.init(tls: tls))
        let strict = try MQTTClient.make(broker.url, id: "tls-name") { $0.tls = .init(caFile: tls.caFile) }
        let error = #expect(throws: MQTTError.self) { try strict.waitUntilConnected(timeout: 10) }
        #expect(error?.description.contains("certificate verify failed") == true, "\(String(describing: error))")
        #expect(!strict.isConnected)
        // The same CA and certificate pass once hostname verification is off: the name was the reason.
        let lax = try MQTTClient.make(broker.url, id: "tls-lax") {
            $0.tls = .init(caFile: tls.caFile, verifyHostname: false)
        }
        try lax.waitUntilConnected(timeout: 10)
    }

    @Test(
        "username and password from a mosquitto_passwd file",
        arguments: MQTTClientConfiguration.ProtocolVersion.allCases)
    func passwordAccepted(version: MQTTClientConfiguration.ProtocolVersion) throws {
        let broker = try Broker(.init(users: ["parkd": "s3cret-pass"]))
        let client = try MQTTClient.make(broker.url, id: "auth-ok", protocolVersion: version) {
            $0.username = "parkd"
            $0.password = Secret("s3cret-pass")
        }
        try client.waitUntilConnected(timeout: 10)
        #expect(client.isConnected)
    }

    @Test("a wrong password is a clear refusal", arguments: MQTTClientConfiguration.ProtocolVersion.allCases)
    func passwordRefused(version: MQTTClientConfiguration.ProtocolVersion) throws {
        let broker = try Broker(.init(users: ["parkd": "s3cret-pass"]))
        let client = try MQTTClient.make(broker.url, id: "auth-bad", protocolVersion: version) {
            $0.username = "parkd"
            $0.password = Secret("wrong")
        }
        let error = #expect(throws: MQTTError.self) { try client.waitUntilConnected(timeout: 10) }
        guard case .connectionRefused(_, let reason) = error else {
            Issue.record("expected a refusal, got \(String(describing: error))")
            return
        }
        #expect(
            reason.lowercased().contains("not authori") || reason.lowercased().contains("bad user name"), "\(reason)")
        #expect(!(error?.description.contains("wrong") ?? true), "the password must not appear in errors")
    }
}
