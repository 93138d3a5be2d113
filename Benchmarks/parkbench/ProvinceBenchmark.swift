import BrokerHarness
import Foundation
import MQTTClient
import Synchronization

/// The province tier's broker beside a single mosquitto, in the same run: QoS 1 throughput
/// (publish until every message is acknowledged, and until a persistent subscriber on another
/// node has it), then the cluster's failover: the stream leader killed under a paced load,
/// with the longest stall seen by the publisher and the subscriber, loss and duplicates.
enum ProvinceBenchmark {
    /// Counts what a subscriber receives: sequence numbers from payloads, first and repeated.
    final class Counter: Sendable {
        private let state = Mutex<
            (seen: Set<Int>, duplicates: Int, last: ContinuousClock.Instant?, longestGap: Duration)
        >(
            ([], 0, nil, .zero))
        func add(_ message: MQTTMessage) {
            let seq = Int(String(decoding: message.payload.prefix { $0 != 0x20 }, as: UTF8.self)) ?? -1
            let now = ContinuousClock.now
            state.withLock {
                if !$0.seen.insert(seq).inserted { $0.duplicates += 1 }
                if let last = $0.last, now - last > $0.longestGap { $0.longestGap = now - last }
                $0.last = now
            }
        }
        var count: Int { state.withLock { $0.seen.count } }
        var duplicates: Int { state.withLock { $0.duplicates } }
        var longestGap: Duration { state.withLock { $0.longestGap } }
        func resetGap() {
            state.withLock {
                $0.last = nil
                $0.longestGap = .zero
            }
        }
    }

    /// A user and its password, and the CA to check the broker with: the secure cluster's.
    struct Login {
        let user: String
        let password: String
        let caFile: String

        func apply(to configuration: inout MQTTClientConfiguration) {
            configuration.username = user
            configuration.password = Secret(password)
            configuration.tls = .init(caFile: caFile)
        }
    }

    static func subscriber(_ url: String, id: String, counter: Counter, login: Login? = nil) throws -> MQTTClient {
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: url), clientID: id, cleanSession: false,
            subscriptions: [.init("uplink/bench/#", qos: .atLeastOnce)], reconnect: .init(initial: 0.1, maximum: 1),
            maxInflight: 1000)
        login?.apply(to: &configuration)
        let client = try MQTTClient(configuration: configuration, onMessage: { counter.add($0) })
        client.start()
        try client.waitUntilConnected(timeout: 30)
        Thread.sleep(forTimeInterval: 1)
        return client
    }

    /// 200-byte payloads, the size of a small uplink batch's header and a few items.
    static func payload(_ seq: Int) -> [UInt8] {
        let text = "\(seq) " + String(repeating: "x", count: 200)
        return Array(text.utf8)
    }

    /// One gateway's topic, as the secure cluster's permissions allow it one.
    static func throughput(
        name: String, publishURL: [String], subscribeURL: String, messages: Int, publisherLogin: Login? = nil,
        subscriberLogin: Login? = nil
    ) throws {
        let counter = Counter()
        let id = String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
        let subscriber = try subscriber(
            subscribeURL, id: "bench-sub-\(id)", counter: counter, login: subscriberLogin)
        defer { subscriber.stop() }
        var configuration = MQTTClientConfiguration(
            url: try BrokerURL(parsing: publishURL[0]), clientID: "bench-pub-\(id)", cleanSession: true,
            maxInflight: 100, maxQueuedPublishes: 1000)
        configuration.fallbackURLs = try publishURL.dropFirst().map { try BrokerURL(parsing: $0) }
        publisherLogin?.apply(to: &configuration)
        let publisher = try MQTTPublisher(configuration: configuration)
        try publisher.connect()
        let started = ContinuousClock.now
        for seq in 0..<messages {
            try publisher.publish("uplink/bench/g0", payload: payload(seq), qos: .atLeastOnce)
        }
        try publisher.flush(timeout: 120)
        let acknowledged = ContinuousClock.now - started
        let deadline = ContinuousClock.now + .seconds(60)
        while counter.count < messages && ContinuousClock.now < deadline { usleep(5_000) }
        let delivered = ContinuousClock.now - started
        publisher.disconnect()
        print(
            String(
                format: "  %@ %8.0f msg/s acknowledged, %8.0f msg/s delivered (%d/%d)",
                name.padding(toLength: 34, withPad: " ", startingAt: 0) as NSString,
                Double(messages) / seconds(acknowledged), Double(messages) / seconds(delivered), counter.count, messages
            ))
    }

    static func seconds(_ d: Duration) -> Double {
        d.inSeconds
    }

    static func run(messages: Int) throws {
        print("parkbench province: \(messages) QoS 1 messages of 200 bytes, one publisher, one persistent subscriber")
        do {
            let mosquitto = try Broker()
            try throughput(
                name: "mosquitto (one broker)", publishURL: [mosquitto.url], subscribeURL: mosquitto.url,
                messages: messages)
        }
        do {
            let plain = try NATSCluster(ackWait: "5s")
            try throughput(
                name: "NATS cluster, 3 nodes, R3", publishURL: [plain.urls[0]], subscribeURL: plain.urls[1],
                messages: messages)
        }
        do {
            // As shipped: TLS on every listener and route, a user per gateway and per worker.
            let credentials = try ProvinceCredentials.make(
                gateways: [("bench", "g0")], workers: [("bench-worker", ["bench"])])
            let secure = try NATSCluster(ackWait: "5s", credentials: credentials)
            try throughput(
                name: "NATS cluster, R3, TLS + users", publishURL: [secure.urls[0]], subscribeURL: secure.urls[1],
                messages: messages,
                publisherLogin: Login(
                    user: "gw-g0", password: try credentials.gatewayPassword("g0"), caFile: credentials.caFile),
                subscriberLogin: Login(
                    user: "bench-worker", password: try credentials.workerPassword("bench-worker"),
                    caFile: credentials.caFile))
        }
        let cluster = try NATSCluster(ackWait: "5s")
        let urls = cluster.urls

        // Failover under a paced load: 500 msg/s for 12 s, the stream leader killed at 4 s.
        // JetStream makes the MQTT streams at the first MQTT session: one, then their leader.
        try subscriber(urls[0], id: "bench-warm-up", counter: Counter()).stop()
        let leaderDeadline = ContinuousClock.now + .seconds(30)
        var found = cluster.streamLeader()
        while found == nil && ContinuousClock.now < leaderDeadline {
            usleep(200_000)
            found = cluster.streamLeader()
        }
        guard let leader = found else { throw HarnessError("no stream leader") }
        let others = urls.indices.filter { $0 != leader }
        let counter = Counter()
        let subscriber = try subscriber(urls[others[1]], id: "bench-failover-sub", counter: counter)
        defer { subscriber.stop() }
        let publisher = try MQTTClient(
            configuration: .init(
                url: try BrokerURL(parsing: urls[others[0]]), clientID: "bench-failover-pub", cleanSession: false,
                reconnect: .init(initial: 0.1, maximum: 1), maxInflight: 100, maxQueuedPublishes: 100_000))
        publisher.start()
        try publisher.waitUntilConnected(timeout: 30)
        counter.resetGap()
        let total = 6000
        let started = ContinuousClock.now
        var killedAt: ContinuousClock.Instant?
        var lastCompleted: UInt64 = 0
        var lastProgress = ContinuousClock.now
        var longestStall = Duration.zero
        var seq = 0
        while seq < total || publisher.statistics.completed < UInt64(total) {
            let now = ContinuousClock.now
            if seq < total && now >= started + .milliseconds(seq * 2) {
                try publisher.publish("uplink/bench/failover", payload: payload(seq), qos: .atLeastOnce)
                seq += 1
            }
            if killedAt == nil && now - started >= .seconds(4) {
                cluster.kill(leader)
                killedAt = now
            }
            let completed = publisher.statistics.completed
            if completed != lastCompleted {
                lastCompleted = completed
                lastProgress = now
            } else if publisher.statistics.published > completed, now - lastProgress > longestStall {
                longestStall = now - lastProgress
            }
            if now - started > .seconds(90) { break }
            usleep(200)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while counter.count < total && ContinuousClock.now < deadline { usleep(10_000) }
        let newLeader = cluster.streamLeader().map { "n\($0 + 1)" } ?? "none"
        print(
            String(
                format:
                    "  failover: leader n%d killed under 500 msg/s; new leader %@; publisher stalled %.2fs at most, subscriber %.2fs; %d/%d delivered, %d lost, %d duplicates",
                leader + 1, newLeader as NSString, seconds(longestStall), seconds(counter.longestGap), counter.count,
                total, total - counter.count, counter.duplicates))
        publisher.stop()
    }
}
