import Foundation
import Logging
import MQTTClient
import ParkConfig
import ParkIngest
import Synchronization
import TelemetryCore
import UplinkWire

/// Drains the outbox to the province: the oldest items first, one batch in flight at a time
/// (so each series arrives in order even across reconnects), QoS 1 over a connection and
/// persistent session of its own, items removed only once the broker acknowledged them.
/// A batch cut off by a lost connection is sent again by libmosquitto when it reconnects; one
/// cut off by a restart is sent again from the outbox. Either way the central side sees the
/// same ids and keeps one copy. The drain rate is capped (`uplink.rate`).
package final class UplinkSender: Sendable {
    package struct Status: Sendable {
        package var connected = false
        package var depth = 0
        package var oldestAgeSeconds: Double?
        package var sentItems = 0
        package var resentItems = 0
        /// Outbox rows that no longer read as an item, dropped.
        package var unreadableItems = 0
        /// Batches the broker acknowledged with a refusal (MQTT 5: its ACL, a quota): they stay
        /// in the outbox and are tried again later.
        package var refusedBatches = 0
        package var lastError: String?
    }

    package let configuration: DaemonConfiguration.Uplink
    private let storePath: String
    private let logger: Logger
    private let wakeSignal = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// What the sender thread, `stop` and the HTTP endpoint share.
    private struct Shared {
        var status = Status()
        var stopping = false
        var client: MQTTClient?
    }
    private let shared = Mutex(Shared())

    package init(configuration: DaemonConfiguration.Uplink, storePath: String, logger: Logger) {
        self.configuration = configuration
        self.storePath = storePath
        self.logger = logger
    }

    package var status: Status {
        let (status, client) = shared.withLock { ($0.status, $0.client) }
        var s = status
        s.connected = client?.isConnected ?? false
        return s
    }

    package func start() throws(MQTTError) {
        let client = try MQTTClient(
            configuration: configuration.clientConfiguration, logger: Logger(label: "parkd.uplink"),
            onEvent: { [logger, configuration] event in
                if case .connected = event {
                    logger.info("uplink connected (\(configuration.topic))")
                }
            })
        shared.withLock { $0.client = client }
        client.start()
        let thread = Thread { [self] in
            run(client)
            finished.signal()
        }
        thread.name = "parkd-uplink"
        thread.start()
    }

    /// New items were queued: send them without waiting for the next poll.
    package func wake() { wakeSignal.signal() }

    /// Stops sending; what is not acknowledged stays in the outbox for the next start.
    package func stop() {
        let client = shared.withLock { (shared) -> MQTTClient? in
            guard !shared.stopping, let client = shared.client else { return nil }
            shared.stopping = true
            return client
        }
        guard let client else { return }
        wakeSignal.signal()
        client.stop()
        _ = finished.wait(timeout: .now() + 10)
    }

    private var isStopping: Bool {
        shared.withLock { $0.stopping }
    }

    private func note(_ update: (inout Status) -> Void) {
        shared.withLock { update(&$0.status) }
    }

    private func run(_ client: MQTTClient) {
        let outbox: Outbox
        do {
            outbox = try Outbox(path: storePath)
        } catch {
            logger.error("uplink cannot open its outbox in \(storePath): \(error); nothing is sent")
            note { $0.lastError = "\(error)" }
            return
        }
        var nextAllowed = ContinuousClock.now
        var lastDepth = ContinuousClock.now - .seconds(10)
        // After a refusal the same batch waits, 1 s doubling to a minute: the broker's ACL or
        // quota will not change by itself, and the items must not be lost meanwhile.
        var refusedInARow = 0
        var heldUntil = ContinuousClock.now
        while !isStopping {
            if ContinuousClock.now - lastDepth >= .seconds(1) {
                refreshDepth(outbox)
                lastDepth = ContinuousClock.now
            }
            let held = heldUntil - ContinuousClock.now
            if held > .zero {
                _ = wakeSignal.wait(timeout: .now() + min(held.inSeconds, 1))
                continue
            }
            guard client.isConnected else {
                _ = wakeSignal.wait(timeout: .now() + 0.2)
                continue
            }
            let entries: [Outbox.Entry]
            do {
                entries = try outbox.peek(limit: configuration.batchItems, maxBytes: configuration.batchBytes)
            } catch {
                fail("reading the outbox", error)
                continue
            }
            guard let first = entries.first, let last = entries.last else {
                _ = wakeSignal.wait(timeout: .now() + 1)
                continue
            }
            let wait = nextAllowed - ContinuousClock.now
            if wait > .zero {
                Thread.sleep(
                    forTimeInterval: wait.inSeconds)
            }
            nextAllowed =
                max(nextAllowed, ContinuousClock.now)
                + .milliseconds(Int64(1000 * Double(entries.count) / configuration.rate))
            do {
                let reconnects = client.statistics.reconnects
                let refusedBefore = client.statistics.refused
                let message = Outbox.message(gateway: configuration.gateway, entries: entries)
                let skipped = message.skipped.count
                if skipped < entries.count {
                    try client.publish(configuration.topic, payload: message.payload, qos: .atLeastOnce)
                }
                // Handed to the connection: a later send of these items counts as a resend.
                try outbox.markSent(from: first.seq, through: last.seq)
                // Until acknowledged: a lost connection makes libmosquitto send it again on reconnect.
                while true {
                    do {
                        try client.flush(timeout: 1)
                        break
                    } catch .stopped {
                        return
                    } catch {
                        if isStopping { return }
                    }
                }
                if client.statistics.refused != refusedBefore {
                    let (code, reason) = client.lastRefusal
                    refusedInARow += 1
                    let delay = min(60, 1 << min(refusedInARow - 1, 6))
                    heldUntil = ContinuousClock.now + .seconds(delay)
                    let text =
                        "the broker refused the batch on \(configuration.topic): \(reason) (reason code \(code)); its \(entries.count) items stay in the outbox"
                    let first = shared.withLock { (shared) -> Bool in
                        shared.status.refusedBatches += 1
                        defer { shared.status.lastError = text }
                        return shared.status.lastError != text
                    }
                    if first || refusedInARow % 10 == 0 {
                        logger.error(
                            "uplink: \(text); trying again in \(delay)s (check the broker's ACL for this user)")
                    }
                    continue
                }
                refusedInARow = 0
                try outbox.remove(through: last.seq)
                if skipped > 0 {
                    // A row this build cannot read (a store edited by hand, a newer build's kind)
                    // would block the outbox for good: it goes with its batch, counted and named
                    // once (not on each retry of a refused batch).
                    logger.error(
                        "uplink: \(skipped) outbox items no longer read (unknown kind or not JSON) were dropped, first \(LogSafe.text(message.skipped[0]))"
                    )
                    note { $0.unreadableItems += skipped }
                }
                let again = entries.contains { $0.attempts > 0 } || client.statistics.reconnects != reconnects
                note {
                    $0.sentItems += entries.count - skipped
                    if again { $0.resentItems += entries.count - skipped }
                    $0.depth = max(0, $0.depth - entries.count)
                    $0.lastError = nil
                }
            } catch let error as MQTTError {
                if case .stopped = error { return }
                // Not connected after all, or the library's queue refused it: try again shortly.
                _ = wakeSignal.wait(timeout: .now() + 0.2)
            } catch {
                fail("updating the outbox", error)
            }
        }
    }

    private func refreshDepth(_ outbox: Outbox) {
        do {
            let (items, oldest) = try outbox.depth()
            let now = WallClock.now().milliseconds
            note {
                $0.depth = items
                $0.oldestAgeSeconds = oldest.map { Double(max(0, now - $0)) / 1000 }
            }
        } catch {
            fail("reading the outbox depth", error)
        }
    }

    private func fail(_ doing: String, _ error: any Error) {
        let text = "\(error)"
        let first = shared.withLock { (shared) -> Bool in
            defer { shared.status.lastError = text }
            return shared.status.lastError != text
        }
        if first { logger.error("uplink outbox \(storePath): \(doing): \(text)") }
        _ = wakeSignal.wait(timeout: .now() + 1)
    }
}
