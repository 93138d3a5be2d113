import Foundation
import Logging
import MQTTClient
import ParkConfig
import ParkIngest
import Sparkplug
import Synchronization
import TelemetryCore

/// parkd's two writes to a Sparkplug plant's broker, each off unless configured: the host's
/// STATE (`spBv1.0/STATE/<host_id>`, retained, QoS 1; the will says `online:false` with the
/// same timestamp, as Sparkplug 3.0 asks) and the rebirth requests the host stage queues
/// (NCMD `Node Control/Rebirth`). The summary loop calls `tick` every second.
package final class SparkplugHostLink: Sendable {
    package let configuration: SparkplugConfiguration
    /// This run's STATE timestamp (ms): the birth and the will carry the same one.
    private let stamp: UInt64
    private let stateDue = Atomic(false)
    private let logger: Logger

    package init(configuration: SparkplugConfiguration, logger: Logger, now: EventTime) {
        self.configuration = configuration
        self.logger = logger
        stamp = UInt64(max(0, now.milliseconds))
    }

    static func statePayload(online: Bool, timestamp: UInt64) -> [UInt8] {
        Array("{\"online\":\(online),\"timestamp\":\(timestamp)}".utf8)
    }

    /// The will of the ingest connection: the host's STATE offline.
    package var will: MQTTClientConfiguration.Will? {
        configuration.hostID.map {
            MQTTClientConfiguration.Will(
                topic: SparkplugTopic.state(host: $0), payload: Self.statePayload(online: false, timestamp: stamp),
                qos: .atLeastOnce, retain: true)
        }
    }

    /// The connection is up (again): STATE online goes out at the next tick.
    package func connected() {
        if configuration.hostID != nil { stateDue.store(true, ordering: .releasing) }
    }

    /// Publishes what is due: STATE after a connect, and the rebirth requests queued.
    package func tick(pipeline: IngestPipeline, publisher: MQTTClient?, now: EventTime) {
        // Without a connection the requests wait in the pipeline for the next tick.
        guard let publisher, publisher.isConnected else { return }
        let requests = pipeline.takeRebirthRequests()
        if let host = configuration.hostID, stateDue.exchange(false, ordering: .acquiringAndReleasing) {
            publish(
                publisher, SparkplugTopic.state(host: host), Self.statePayload(online: true, timestamp: stamp),
                retain: true)
        }
        guard configuration.rebirth else { return }
        let payload = SparkplugPayload.rebirthRequest(at: UInt64(max(0, now.milliseconds))).encoded()
        for (group, node) in requests {
            let topic = SparkplugTopic(group: group, type: .ncmd, node: node).text
            logger.notice("asked Sparkplug edge node \(group)/\(node) to rebirth (\(topic))")
            publish(publisher, topic, payload, retain: false)
        }
    }

    /// Before DISCONNECT (which suppresses the will): STATE offline, as the will would say.
    package func goingOffline(publisher: MQTTClient?) {
        guard let host = configuration.hostID, let publisher else { return }
        publish(
            publisher, SparkplugTopic.state(host: host), Self.statePayload(online: false, timestamp: stamp),
            retain: true)
    }

    private func publish(_ client: MQTTClient, _ topic: String, _ payload: [UInt8], retain: Bool) {
        do {
            try client.publish(topic, payload: payload, qos: .atLeastOnce, retain: retain, waitWhenFull: false)
        } catch {
            logger.warning("Sparkplug: not published to \(topic): \(error)")
        }
    }
}
