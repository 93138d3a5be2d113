import MQTTClient
import Testing

@Suite("Broker URLs, secrets and client configuration")
struct ConfigurationTests {
    @Test(
        "URLs parse to host, port and TLS",
        arguments: [
            ("mqtt://127.0.0.1", "127.0.0.1", 1883, false),
            ("mqtts://broker.park.local", "broker.park.local", 8883, true),
            ("mqtt://localhost:1884", "localhost", 1884, false),
            ("mqtts://[::1]:8884", "::1", 8884, true),
            ("MQTT://Gateway:1/", "Gateway", 1, false),
        ])
    func parses(text: String, host: String, port: Int, tls: Bool) throws {
        let url = try BrokerURL(parsing: text)
        #expect(url == BrokerURL(host: host, port: port, usesTLS: tls))
        #expect(try BrokerURL(parsing: url.description) == url)
    }

    @Test(
        "bad URLs are refused with the reason",
        arguments: [
            ("127.0.0.1:1883", "no scheme"),
            ("http://x", "scheme 'http'"),
            ("mqtt://:1883", "no host"),
            ("mqtt://h:0", "port '0'"),
            ("mqtt://h:99999", "port '99999'"),
            ("mqtt://user:pw@h", "credentials"),
            ("mqtt://h/topic", "path"),
            ("mqtt://[::1", "unclosed"),
        ])
    func refuses(text: String, reason: String) {
        let error = #expect(throws: MQTTError.self) { try BrokerURL(parsing: text) }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("a secret never shows itself")
    func secretRedacted() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        var configuration = MQTTClientConfiguration(url: BrokerURL(host: "h", port: 1, usesTLS: false), clientID: "c")
        configuration.password = secret
        #expect(!"\(configuration)".contains("hunter2"))
    }

    @Test("backoff doubles from its start and stops at its cap")
    func backoff() {
        let backoff = MQTTClientConfiguration.Backoff(initial: 0.5, maximum: 30)
        #expect((0..<8).map { backoff.delay(attempt: $0) } == [0.5, 1, 2, 4, 8, 16, 30, 30])
        #expect(backoff.delay(attempt: 10_000) == 30)
    }

    @Test(
        "invalid filters and settings are refused before connecting",
        arguments: ["a/#/b", "a/b#", "a+/b", ""])
    func badFilter(filter: String) {
        let configuration = MQTTClientConfiguration(
            url: BrokerURL(host: "h", port: 1, usesTLS: false), clientID: "c", subscriptions: [.init(filter)])
        #expect(throws: MQTTError.self) { try configuration.validate() }
    }

    @Test("a persistent session without a client id is refused")
    func persistentNeedsID() {
        let configuration = MQTTClientConfiguration(url: BrokerURL(host: "h", port: 1, usesTLS: false), clientID: "")
        #expect(throws: MQTTError.self) { try configuration.validate() }
    }
}
