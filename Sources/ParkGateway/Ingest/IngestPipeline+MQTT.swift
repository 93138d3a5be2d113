import MQTTClient
import ParkIngest
import TelemetryCore

/// The MQTT side of the pipeline: ParkIngest knows topics and bytes, not the client.
extension IngestPipeline {
    /// A message read in place in the client's buffers (the network thread's path).
    @discardableResult
    public func ingest(_ message: MQTTMessageView, arrival: EventTime) -> Int {
        ingest(topic: message.topic, payload: message.payload, arrival: arrival, retained: message.retain)
    }
}
