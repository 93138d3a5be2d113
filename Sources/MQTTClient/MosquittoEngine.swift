import CMosquitto
import Foundation
import Logging
import Synchronization

private let libraryInitialised: Bool = {
    mosquitto_lib_init()
    return true
}()

/// Owns one libmosquitto handle and the thread that runs its network loop.
///
/// Every libmosquitto callback runs on that thread, which holds a strong reference to the
/// engine until it ends; the handle is destroyed only in `deinit`, so no callback can reach
/// freed memory however the client is closed.
///
/// `@unchecked Sendable`: it wraps libmosquitto's C handle, which libmosquitto locks itself
/// (threaded mode); the engine's own shared state is behind its locks and atomics.
final class MosquittoEngine: @unchecked Sendable {
    let configuration: MQTTClientConfiguration
    let logger: Logger
    /// How messages reach their handler: copied out, or read in place during the call.
    enum Delivery: Sendable {
        case copied(@Sendable (MQTTMessage) -> Void)
        case inPlace(@Sendable (MQTTMessageView) -> Void)
    }

    private let onMessage: Delivery
    let onEvent: @Sendable (MQTTClientEvent) -> Void
    let mosq: OpaquePointer

    let received = Atomic<UInt64>(0)
    let published = Atomic<UInt64>(0)
    let completed = Atomic<UInt64>(0)
    /// QoS 1 publishes the broker acknowledged with a failure reason code (MQTT 5 only: a
    /// 3.1.1 broker acknowledges a publish its ACL refused like any other).
    let refusedPublishes = Atomic<UInt64>(0)
    /// The reason code of the latest refused publish.
    let lastRefusalCode = Atomic<Int32>(0)
    let reconnects = Atomic<UInt64>(0)
    let loopRestarts = Atomic<UInt64>(0)
    let watchdogRecycles = Atomic<UInt64>(0)
    /// Passes of the leave's write loop (each waits for the socket to take bytes).
    let leavePasses = Atomic<UInt64>(0)
    let stopRequested = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let publishWaiters = Atomic<Int>(0)
    /// A waiting publisher is woken once fewer than this many publishes are outstanding.
    private let wakeBelow = Atomic<UInt64>(0)

    /// Connection state shared with callers' threads.
    private let state = NSCondition()
    private var connected = false
    private var lastFailure: MQTTError?
    /// Failures since the last connection, against the addresses there are: a waiter gives up
    /// only once every address has failed.
    private var failuresSinceConnected = 0
    private var everConnected = false

    let publishGate = NSCondition()
    let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    let lastLogError = Mutex<String?>(nil)
    private var loopThread: Thread?

    // Loop-thread-only state.
    var attempt = 0
    /// The broker address in use (an index into `configuration.addresses`), and where the
    /// current round of tries began: a full round without success backs off, a step within
    /// one does not wait long.
    private let address = Atomic<Int>(0)
    private var roundStart = 0

    /// The broker address tried or connected now.
    var currentURL: BrokerURL {
        let addresses = configuration.addresses
        return addresses[address.load(ordering: .relaxed) % addresses.count]
    }

    /// Moves to the next address (network thread); true when a round of all of them is done.
    func rotate() -> Bool {
        let count = configuration.addresses.count
        guard count > 1 else { return true }
        let next = (address.load(ordering: .relaxed) + 1) % count
        address.store(next, ordering: .relaxed)
        logger.info("trying the next broker address: \(currentURL)")
        return next == roundStart
    }
    /// The broker refused the current attempt; what the loop then returns is only its echo.
    var refused = false
    var resubscribeOnConnect = false
    private var pendingSubscriptions: [Int32: String] = [:]
    /// Messages counted at the last look, and since when none has come (nil while they flow).
    var watchdogMark: (count: UInt64, at: ContinuousClock.Instant?) = (0, .now)
    /// Wakes left before `drain` reads on again (network thread only).
    var drainSkips = 0
    /// With one, the network thread polls the socket itself (`pollOnce`) and a publish from
    /// another thread wakes it. Nil for an inline engine (no network thread), if the kernel gave
    /// no eventfd, and over TLS, where the thread runs `mosquitto_loop`, which also follows the
    /// handshake's wants.
    let waker: LoopWaker?
    /// No TLS: the network thread may poll and write the socket around libmosquitto.
    let plainTCP: Bool
    /// With `.auto`: the addresses (indices) whose broker refused MQTT 5, spoken to in 3.1.1.
    private var speaks311Only: Set<Int> = []
    /// The next attempt goes to the same address again at once (it refused MQTT 5 only).
    var retrySameAddress = false

    /// Inline engines have no network thread: the one thread that owns them drives the loop
    /// in `publishInline` and `serviceInline`, and libmosquitto writes each publish directly.
    let inline: Bool

    init(
        configuration: MQTTClientConfiguration,
        logger: Logger,
        inline: Bool = false,
        onMessage: Delivery,
        onEvent: @escaping @Sendable (MQTTClientEvent) -> Void
    ) throws(MQTTError) {
        try configuration.validate()
        _ = libraryInitialised
        guard let handle = mosquitto_new(configuration.clientID, configuration.cleanSession, nil) else {
            throw .library(call: "mosquitto_new", code: MOSQ_ERR_NOMEM.rawValue, message: "out of memory", detail: nil)
        }
        self.mosq = handle
        self.configuration = configuration
        self.logger = logger
        self.onMessage = onMessage
        self.onEvent = onEvent
        self.inline = inline
        plainTCP = configuration.tls == nil && !configuration.url.usesTLS
        waker = inline || !plainTCP ? nil : LoopWaker()
        try configureHandle()
    }

    deinit {
        mosquitto_destroy(mosq)
    }

    private func configureHandle() throws(MQTTError) {
        let c = configuration
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        try MQTTError.check(mosquitto_threaded_set(mosq, !inline), "mosquitto_threaded_set")
        try setVersion(c.protocolVersion == .v311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5)
        let inflight = Int32(min(c.maxInflight, 65535))
        if c.protocolVersion != .v311 {
            try MQTTError.check(mosquitto_int_option(mosq, MOSQ_OPT_RECEIVE_MAXIMUM, inflight), "set receive maximum")
            try MQTTError.check(mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, inflight), "set send maximum")
        }
        if c.protocolVersion != .v5 {
            try MQTTError.check(mosquitto_max_inflight_messages_set(mosq, UInt32(inflight)), "set max inflight")
        }
        if let username = c.username {
            try MQTTError.check(
                mosquitto_username_pw_set(mosq, username, c.password?.value), "mosquitto_username_pw_set")
        }
        if c.url.usesTLS || c.tls != nil {
            let tls = c.tls ?? .init()
            let rc: Int32
            if tls.caFile == nil && tls.caPath == nil {
                rc = mosquitto_int_option(mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1)
            } else {
                rc = mosquitto_tls_set(mosq, tls.caFile, tls.caPath, tls.certFile, tls.keyFile, nil)
            }
            try MQTTError.check(
                rc, "configure TLS", detail: "ca_file \(tls.caFile ?? "-"), cert_file \(tls.certFile ?? "-")")
            try MQTTError.check(mosquitto_tls_insecure_set(mosq, !tls.verifyHostname), "mosquitto_tls_insecure_set")
        }
        if let will = c.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(
                    mosq, will.topic, Int32(bytes.count), bytes.baseAddress, will.qos.rawValue, will.retain)
            }
            try MQTTError.check(rc, "mosquitto_will_set", detail: "topic \(will.topic)")
        }
        mosquitto_connect_v5_callback_set(mosq) { _, obj, rc, flags, _ in
            MosquittoEngine.from(obj).handleConnect(rc: rc, flags: flags)
        }
        mosquitto_disconnect_callback_set(mosq) { _, obj, rc in
            MosquittoEngine.from(obj).handleDisconnect(rc: rc)
        }
        mosquitto_message_callback_set(mosq) { _, obj, message in
            guard let message else { return }
            MosquittoEngine.from(obj).deliver(message)
        }
        mosquitto_publish_v5_callback_set(mosq) { _, obj, _, reasonCode, _ in
            MosquittoEngine.from(obj).handlePublished(reasonCode: reasonCode)
        }
        mosquitto_subscribe_callback_set(mosq) { _, obj, mid, count, granted in
            MosquittoEngine.from(obj).handleSubscribed(
                mid: mid, granted: Array(UnsafeBufferPointer(start: granted, count: Int(count))))
        }
    }

    func setVersion(_ version: Int32) throws(MQTTError) {
        try MQTTError.check(
            mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, version), "set protocol version")
    }

    /// The protocol spoken to the current address.
    var speaksV5: Bool {
        switch configuration.protocolVersion {
        case .v5: return true
        case .v311: return false
        case .auto: return !speaks311Only.contains(address.load(ordering: .relaxed) % configuration.addresses.count)
        }
    }

    private static func from(_ obj: UnsafeMutableRawPointer?) -> MosquittoEngine {
        Unmanaged<MosquittoEngine>.fromOpaque(obj!).takeUnretainedValue()
    }

    // MARK: - Control from any thread

    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "mqtt-\(configuration.clientID)"
        loopThread = thread
        thread.start()
    }

    /// Ends the loop (sending DISCONNECT when connected) and waits for the thread to finish.
    func stop(timeout: Double) {
        guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        publishGate.broadcast()
        state.broadcast()
        guard started.load(ordering: .acquiring), Thread.current !== loopThread else { return }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            logger.error("MQTT network thread did not stop within \(timeout)s")
        }
    }

    var currentFailure: MQTTError? {
        state.lock()
        defer { state.unlock() }
        return lastFailure
    }

    var isConnected: Bool {
        state.lock()
        defer { state.unlock() }
        return connected
    }

    func waitUntilConnected(timeout: Double) throws(MQTTError) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        state.lock()
        defer { state.unlock() }
        while !connected {
            if let lastFailure, failuresSinceConnected >= configuration.addresses.count { throw lastFailure }
            if stopRequested.load(ordering: .relaxed) { throw .stopped }
            if !state.wait(until: deadline) {
                if connected { return }
                throw lastFailure ?? .timedOut("waiting \(timeout)s for a connection to \(configuration.url)")
            }
        }
    }

    func publish(topic: String, payload: UnsafeRawBufferPointer, qos: QoS, retain: Bool, waitWhenFull: Bool = true)
        throws(MQTTError)
    {
        if stopRequested.load(ordering: .relaxed) { throw .stopped }
        let limit = UInt64(configuration.maxQueuedPublishes)
        if published.load(ordering: .relaxed) &- completed.load(ordering: .relaxed) >= limit {
            guard waitWhenFull else { throw .queueFull(limit: Int(limit)) }
            // Wait for half the queue to drain, not one slot: one wake-up per many acknowledgements.
            try waitForQueue(below: max(1, limit / 2), timeout: 60)
        }
        published.add(1, ordering: .relaxed)
        var mid: Int32 = 0
        let rc = mosquitto_publish(
            mosq, &mid, topic, Int32(payload.count), payload.baseAddress, qos.rawValue, retain)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            published.subtract(1, ordering: .relaxed)
            if rc == MOSQ_ERR_NO_CONN.rawValue { throw .notConnected }
            throw .library(call: "publish to '\(topic)'", code: rc, message: MQTTError.strerror(rc), detail: nil)
        }
        // Threaded mode: libmosquitto queued the packet for the network thread to write; wake it.
        if let waker, mosquitto_want_write(mosq) { waker.signal() }
    }

    /// Waits until every message handed to `publish` has been written (QoS 0) or acknowledged (QoS 1).
    func flush(timeout: Double) throws(MQTTError) {
        try waitForQueue(below: 1, timeout: timeout)
    }

    private func waitForQueue(below limit: UInt64, timeout: Double) throws(MQTTError) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        publishGate.lock()
        wakeBelow.store(limit, ordering: .sequentiallyConsistent)
        publishWaiters.add(1, ordering: .sequentiallyConsistent)
        defer { publishWaiters.subtract(1, ordering: .sequentiallyConsistent) }
        defer { publishGate.unlock() }
        while published.load(ordering: .relaxed) &- completed.load(ordering: .acquiring) >= limit {
            if stopRequested.load(ordering: .relaxed) { throw .stopped }
            if !publishGate.wait(until: deadline) {
                let outstanding = published.load(ordering: .relaxed) &- completed.load(ordering: .relaxed)
                throw .timedOut("waiting for \(outstanding) queued publishes to be acknowledged")
            }
        }
    }

    @discardableResult
    func setConnected(_ value: Bool) -> Bool {
        state.lock()
        let old = connected
        connected = value
        if value {
            lastFailure = nil
            failuresSinceConnected = 0
            everConnected = true
        }
        state.broadcast()
        state.unlock()
        return old
    }

    /// Reports before it records, so that a waiter woken by the record sees the event too.
    func recordFailure(_ failure: MQTTError, quiet: Bool = false) {
        if !quiet {
            logger.error("MQTT connection failed: \(failure)")
            onEvent(.connectFailed(failure))
        }
        state.lock()
        lastFailure = failure
        failuresSinceConnected += 1
        state.broadcast()
        state.unlock()
    }

    // MARK: - Callbacks (network thread)

    private func handleConnect(rc: Int32, flags: Int32) {
        guard rc == 0 else {
            let v5 = speaksV5
            refused = true
            // 132: "unsupported protocol version" in an MQTT 5 CONNACK; 1: the same in 3.1.1's.
            if configuration.protocolVersion == .auto, v5, rc == 132 || rc == 1 {
                let index = address.load(ordering: .relaxed) % configuration.addresses.count
                speaks311Only.insert(index)
                retrySameAddress = true
                logger.notice(
                    "\(currentURL) does not speak MQTT 5; using 3.1.1 there (a publish it refuses cannot be told from one it takes)"
                )
                return
            }
            let reason =
                v5 ? String(cString: mosquitto_reason_string(rc)) : String(cString: mosquitto_connack_string(rc))
            recordFailure(.connectionRefused(code: rc, reason: reason))
            return
        }
        installLogCallback(false)
        attempt = 0
        roundStart = address.load(ordering: .relaxed)
        let sessionPresent = flags & 1 != 0
        setConnected(true)
        logger.info(
            "connected to \(currentURL)",
            metadata: ["client_id": "\(configuration.clientID)", "session_present": "\(sessionPresent)"])
        onEvent(.connected(sessionPresent: sessionPresent))
        if !configuration.subscriptions.isEmpty
            && (!sessionPresent || configuration.cleanSession || resubscribeOnConnect)
        {
            resubscribeOnConnect = false
            subscribeAll()
        }
    }

    private func subscribeAll() {
        pendingSubscriptions.removeAll()
        for subscription in configuration.subscriptions {
            var mid: Int32 = 0
            let rc = mosquitto_subscribe(mosq, &mid, subscription.filter, subscription.qos.rawValue)
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                pendingSubscriptions[mid] = subscription.filter
            } else {
                logger.error("subscribe to '\(subscription.filter)' failed: \(Self.describe(rc))")
                resubscribeOnConnect = true
            }
        }
    }

    private func handleSubscribed(mid: Int32, granted: [Int32]) {
        guard let filter = pendingSubscriptions.removeValue(forKey: mid) else { return }
        if granted.contains(where: { $0 >= 0x80 }) {
            logger.error("\(MQTTError.subscriptionRefused(filter: filter))")
            onEvent(.subscriptionRefused(filter: filter))
        } else {
            logger.debug("subscribed to '\(filter)'")
            onEvent(.subscribed(filters: [filter]))
        }
    }

    private func handleDisconnect(rc: Int32) {
        if rc != 0 { lastLogError.withLock { if $0 == nil { $0 = Self.describe(rc) } } }
    }

    private func deliver(_ message: UnsafePointer<mosquitto_message>) {
        let m = message.pointee
        received.add(1, ordering: .relaxed)
        let topic = UnsafeBufferPointer(
            start: UnsafeRawPointer(m.topic).map { $0.assumingMemoryBound(to: UInt8.self) },
            count: m.topic.map { strlen($0) } ?? 0)
        let payload = UnsafeBufferPointer(
            start: m.payloadlen > 0 ? m.payload?.assumingMemoryBound(to: UInt8.self) : nil,
            count: m.payloadlen > 0 && m.payload != nil ? Int(m.payloadlen) : 0)
        let view = MQTTMessageView(topic: topic, payload: payload, qos: m.qos, retain: m.retain)
        switch onMessage {
        case .copied(let handle): handle(MQTTMessage(view))
        case .inPlace(let handle): handle(view)
        }
    }

    private func handlePublished(reasonCode: Int32) {
        // 0x80 and above: the broker refused it (0x87 not authorized, 0x97 quota exceeded...).
        if reasonCode >= 0x80 {
            lastRefusalCode.store(reasonCode, ordering: .relaxed)
            refusedPublishes.add(1, ordering: .relaxed)
        }
        // Releasing: whoever sees this completion sees the refusal counted before it.
        let done = completed.add(1, ordering: .releasing).newValue
        if publishWaiters.load(ordering: .sequentiallyConsistent) > 0,
            published.load(ordering: .relaxed) &- done < wakeBelow.load(ordering: .sequentiallyConsistent)
        {
            publishGate.lock()
            publishGate.broadcast()
            publishGate.unlock()
        }
    }

    /// libmosquitto formats a string for every packet once a log callback is set, so it is
    /// installed only while connecting, where its error lines (TLS, DNS) explain failures.
    func installLogCallback(_ on: Bool) {
        if on {
            mosquitto_log_callback_set(mosq) { _, obj, level, text in
                guard level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0, let text else { return }
                let line = String(cString: text)
                MosquittoEngine.from(obj).lastLogError.withLock { $0 = line }
            }
        } else {
            mosquitto_log_callback_set(mosq, nil)
        }
    }

    static func describe(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_ERRNO.rawValue {
            return String(cString: strerror(errno))
        }
        return MQTTError.strerror(rc)
    }

    /// The errors on which `mosquitto_loop_forever` returns instead of reconnecting.
    static func isFatalToLibraryLoop(_ rc: Int32) -> Bool {
        let fatal: [mosq_err_t] = [
            MOSQ_ERR_NOMEM, MOSQ_ERR_PROTOCOL, MOSQ_ERR_INVAL, MOSQ_ERR_NOT_FOUND, MOSQ_ERR_TLS,
            MOSQ_ERR_PAYLOAD_SIZE, MOSQ_ERR_NOT_SUPPORTED, MOSQ_ERR_AUTH, MOSQ_ERR_ACL_DENIED,
            MOSQ_ERR_UNKNOWN, MOSQ_ERR_EAI, MOSQ_ERR_PROXY, MOSQ_ERR_MALFORMED_PACKET,
        ]
        return fatal.contains { $0.rawValue == rc }
    }
}
