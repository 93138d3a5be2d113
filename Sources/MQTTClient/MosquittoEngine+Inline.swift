import CMosquitto

/// An engine without a network thread (`MQTTPublisher`): the one thread that owns it connects,
/// publishes and services the loop itself, and libmosquitto writes each publish directly.
extension MosquittoEngine {
    /// Connects on the calling thread and waits for the broker's answer.
    func connectInline(timeout: Double) throws(MQTTError) {
        precondition(inline)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        installLogCallback(true)
        if let unreachable = TCPProbe.check(currentURL, timeout: configuration.connectTimeout) {
            throw unreachable
        }
        var rc = connectOnce()
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw .library(
                call: "connect to \(currentURL)", code: rc, message: Self.describe(rc),
                detail: lastLogError.withLock { $0 })
        }
        while !isConnected {
            if let failure = currentFailure { throw failure }
            guard ContinuousClock.now < deadline else {
                throw .timedOut("waiting for a connection to \(configuration.url)")
            }
            let loop = mosquitto_loop(mosq, 100, 1)
            if loop != MOSQ_ERR_SUCCESS.rawValue, retrySameAddress {
                // It refused MQTT 5 only: again in 3.1.1.
                retrySameAddress = false
                rc = connectOnce()
                if rc == MOSQ_ERR_SUCCESS.rawValue { continue }
                throw .library(
                    call: "connect to \(currentURL)", code: rc, message: Self.describe(rc),
                    detail: lastLogError.withLock { $0 })
            }
            if loop != MOSQ_ERR_SUCCESS.rawValue {
                if let failure = currentFailure { throw failure }
                throw .library(
                    call: "connect to \(currentURL)", code: loop, message: Self.describe(loop),
                    detail: lastLogError.withLock { $0 })
            }
        }
    }

    /// Publishes from the owning thread, reading acknowledgements as it goes and waiting
    /// (driving the loop) while `maxQueuedPublishes` are unacknowledged.
    func publishInline(topic: String, payload: UnsafeRawBufferPointer, qos: QoS, retain: Bool) throws(MQTTError) {
        let limit = UInt64(configuration.maxQueuedPublishes)
        if published.load(ordering: .relaxed) &- completed.load(ordering: .relaxed) >= limit {
            try serviceInline(until: max(1, limit / 2), timeout: 60)
        }
        var mid: Int32 = 0
        published.add(1, ordering: .relaxed)
        let rc = mosquitto_publish(mosq, &mid, topic, Int32(payload.count), payload.baseAddress, qos.rawValue, retain)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            published.subtract(1, ordering: .relaxed)
            throw .library(call: "publish to '\(topic)'", code: rc, message: Self.describe(rc), detail: nil)
        }
        // Read what has arrived (acknowledgements, pings) every so often without blocking.
        if published.load(ordering: .relaxed) % 64 == 0 { try serviceInline(until: .max, timeout: 0) }
    }

    /// Drives the loop until fewer than `below` publishes are outstanding (or once, at timeout 0).
    func serviceInline(until below: UInt64, timeout: Double) throws(MQTTError) {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        repeat {
            let rc = mosquitto_loop(mosq, timeout == 0 ? 0 : 50, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                setConnected(false)
                throw .library(call: "network loop", code: rc, message: Self.describe(rc), detail: nil)
            }
            if published.load(ordering: .relaxed) &- completed.load(ordering: .relaxed) < below { return }
        } while timeout > 0 && ContinuousClock.now < deadline
        if timeout > 0 {
            let outstanding = published.load(ordering: .relaxed) &- completed.load(ordering: .relaxed)
            throw .timedOut("waiting for \(outstanding) queued publishes to be acknowledged")
        }
    }

    /// One loop pass that may wait up to `milliseconds` for traffic.
    func waitInline(milliseconds: Int) throws(MQTTError) {
        let rc = mosquitto_loop(mosq, Int32(max(0, milliseconds)), 1)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            setConnected(false)
            throw .library(call: "network loop", code: rc, message: Self.describe(rc), detail: nil)
        }
    }

    func disconnectInline() {
        guard isConnected else { return }
        mosquitto_disconnect(mosq)
        for _ in 0..<20 where mosquitto_loop(mosq, 50, 1) == MOSQ_ERR_SUCCESS.rawValue {}
        setConnected(false)
    }
}
