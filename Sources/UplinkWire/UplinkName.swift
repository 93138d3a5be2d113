import TelemetryCore

/// Names that travel in province topics, the gateway's and the shard's: `[a-z0-9_-]`, 1 to 64
/// bytes. Bridges and the cluster's MQTT listener handle nothing else reliably (one topic with
/// a space stalled a mosquitto bridge for every message after it). Park, zone, kind and
/// sensor names never go into a topic: they travel inside the batch's JSON.
public enum UplinkName {
    public static func isValid(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 64 else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
        }
    }
}
