import TelemetryCore

/// Names that travel in province topics: `[a-z0-9_-]`, 1 to 64 bytes. Bridges and the
/// cluster's MQTT listener handle nothing else reliably (one topic with a space stalled a
/// mosquitto bridge for every message after it), so parkd refuses the rest at the gateway.
public enum UplinkName {
    public static func isValid(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 64 else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
        }
    }

    /// The first part of `id` that is not a valid name, or nil.
    package static func firstInvalid(in id: SeriesID) -> String? {
        for part in [id.park, id.zone, id.kind, id.sensor] where !isValid(part) { return part }
        return nil
    }
}
