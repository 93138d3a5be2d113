import Foundation
import Logging
import MQTTClient
import ParkIngest
import Synchronization
import TelemetryCore

/// Where alert transitions go, each behind the same three calls (as Telegraf's outputs are):
/// `write` a batch, `retry` what an earlier write could not take, `close` at shutdown. The
/// summary loop hands every batch to every sink and reports each sink's failure by its name.
package protocol AlertSink: Sendable {
    var name: String { get }
    func write(_ alerts: [AlertTransition]) throws(DaemonError)
    func retry() throws(DaemonError)
    func close()
}

extension AlertSink {
    package func retry() throws(DaemonError) {}
    package func close() {}
}

extension AlertWriter: AlertSink {
    package var name: String { "alerts" }
}

/// Alert lines into the history store, with its next batch.
package struct HistoryAlertSink: AlertSink {
    package let history: HistoryWriter
    package let utcOffsetMinutes: Int
    package var name: String { "history_alerts" }

    package func write(_ alerts: [AlertTransition]) throws(DaemonError) {
        history.add(
            alerts: alerts.map { ($0.at.milliseconds, AlertFormat.json($0, utcOffsetMinutes: utcOffsetMinutes)) })
    }
}

/// Each transition to its MQTT topic (`alerts.mqtt_topic`), QoS 1, best effort: the file has
/// every alert, and what the broker did not take is counted and logged.
package final class MQTTAlertSink: AlertSink {
    package let template: String
    package let utcOffsetMinutes: Int
    private let client: @Sendable () -> MQTTClient?
    private let logger: Logger
    private let unpublished = Mutex(0)
    package var name: String { "alerts_mqtt" }

    package init(
        template: String, utcOffsetMinutes: Int, logger: Logger, client: @escaping @Sendable () -> MQTTClient?
    ) {
        self.template = template
        self.utcOffsetMinutes = utcOffsetMinutes
        self.logger = logger
        self.client = client
    }

    package func write(_ alerts: [AlertTransition]) throws(DaemonError) {
        guard let client = client() else { return }
        for alert in alerts {
            let topic = template.replacingOccurrences(of: "{park}", with: alert.series.park)
                .replacingOccurrences(of: "{pillar}", with: alert.series.pillar.rawValue)
                .replacingOccurrences(of: "{severity}", with: alert.severity.rawValue)
                .replacingOccurrences(of: "{rule}", with: alert.rule)
            do {
                try client.publish(
                    topic, text: AlertFormat.json(alert, utcOffsetMinutes: utcOffsetMinutes), qos: .atLeastOnce,
                    waitWhenFull: false)
            } catch {
                let count = unpublished.withLock { (n: inout Int) -> Int in
                    n += 1
                    return n
                }
                logger.warning("alert not published to \(topic): \(error) (\(count) so far)")
            }
        }
    }
}

/// Readable lines on standard output (`parkd run` in a terminal, or `--stdout`).
package struct EchoAlertSink: AlertSink {
    package let utcOffsetMinutes: Int
    package var name: String { "alerts_stdout" }

    package func write(_ alerts: [AlertTransition]) throws(DaemonError) {
        let text = alerts.map { AlertFormat.human($0, utcOffsetMinutes: utcOffsetMinutes) + "\n" }.joined()
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
