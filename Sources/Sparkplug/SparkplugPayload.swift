import Foundation
import SwiftProtobuf

/// A Sparkplug B payload as parkd reads it: the message's timestamp and sequence number, and
/// each metric's name or alias, flags and raw value. A DATA message may leave the data type
/// out (the BIRTH gave it), so values are read as numbers only once the type is known.
public struct SparkplugPayload: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case int(UInt32)
        case long(UInt64)
        case float(Float)
        case double(Double)
        case bool(Bool)
        case string(String)
        case bytes(Int)
        case dataset
        case template
        case extensionValue
        case none
    }

    public struct Metric: Sendable, Equatable {
        public var name: String?
        public var alias: UInt64?
        public var timestamp: UInt64?
        public var datatype: UInt32?
        public var isHistorical = false
        public var isTransient = false
        public var isNull = false
        public var hasProperties = false
        public var value: Value = .none

        public init(
            name: String? = nil, alias: UInt64? = nil, timestamp: UInt64? = nil, datatype: UInt32? = nil,
            value: Value = .none
        ) {
            self.name = name
            self.alias = alias
            self.timestamp = timestamp
            self.datatype = datatype
            self.value = value
        }

        /// The value as one number under `type` (the metric's own, or its BIRTH's), or why not.
        /// Signed types travel as two's complement in the unsigned fields; the low bits of the
        /// type's width are read, so an Int8 of -1 sent as 0xFF or as 0xFFFFFFFF reads -1.
        /// Booleans read 0 or 1; a DateTime reads seconds since the epoch.
        public func number(as type: UInt32?) -> Result<Double, SparkplugSkip> {
            if isNull { return .failure(.null) }
            switch value {
            case .string: return .failure(.string)
            case .bytes:
                return .failure(
                    type.flatMap(SparkplugDataType.init(rawValue:)).map { $0.rawValue >= 22 } == true ? .array : .bytes)
            case .dataset: return .failure(.dataset)
            case .template: return .failure(.template)
            case .extensionValue: return .failure(.extensionValue)
            case .none: return .failure(.noValue)
            default: break
            }
            guard let type, let known = SparkplugDataType(rawValue: type), known.isScalarNumber else {
                return .failure(.badType)
            }
            switch (known, value) {
            case (.int8, .int(let v)): return .success(Double(Int8(truncatingIfNeeded: v)))
            case (.int16, .int(let v)): return .success(Double(Int16(truncatingIfNeeded: v)))
            case (.int32, .int(let v)): return .success(Double(Int32(bitPattern: v)))
            case (.uint8, .int(let v)): return .success(Double(UInt8(truncatingIfNeeded: v)))
            case (.uint16, .int(let v)): return .success(Double(UInt16(truncatingIfNeeded: v)))
            case (.uint32, .int(let v)): return .success(Double(v))
            // Some encoders put the 32-bit types in long_value: the same width rules apply.
            case (.int8, .long(let v)): return .success(Double(Int8(truncatingIfNeeded: v)))
            case (.int16, .long(let v)): return .success(Double(Int16(truncatingIfNeeded: v)))
            case (.int32, .long(let v)): return .success(Double(Int32(truncatingIfNeeded: v)))
            case (.uint8, .long(let v)): return .success(Double(UInt8(truncatingIfNeeded: v)))
            case (.uint16, .long(let v)): return .success(Double(UInt16(truncatingIfNeeded: v)))
            case (.uint32, .long(let v)): return .success(Double(UInt32(truncatingIfNeeded: v)))
            case (.int64, .long(let v)): return .success(Double(Int64(bitPattern: v)))
            case (.uint64, .long(let v)): return .success(Double(v))
            case (.dateTime, .long(let v)):
                guard let ms = Int64(exactly: v) else { return .failure(.badType) }
                return .success(Double(ms) / 1000)
            case (.float, .float(let v)): return v.isFinite ? .success(Double(v)) : .failure(.badType)
            case (.double, .double(let v)): return v.isFinite ? .success(v) : .failure(.badType)
            case (.boolean, .bool(let v)): return .success(v ? 1 : 0)
            default: return .failure(.badType)
            }
        }
    }

    public var timestamp: UInt64?
    public var seq: UInt64?
    public var metrics: [Metric]

    public init(timestamp: UInt64? = nil, seq: UInt64? = nil, metrics: [Metric] = []) {
        self.timestamp = timestamp
        self.seq = seq
        self.metrics = metrics
    }

    /// Decodes protobuf bytes (swift-protobuf, from the committed generated code).
    public static func decode(_ bytes: [UInt8]) -> Result<SparkplugPayload, SparkplugError> {
        let message: Org_Eclipse_Tahu_Protobuf_Payload
        do {
            message = try Org_Eclipse_Tahu_Protobuf_Payload(serializedBytes: bytes)
        } catch {
            return .failure(.init("not a Sparkplug B payload: \(error)"))
        }
        var payload = SparkplugPayload(
            timestamp: message.hasTimestamp ? message.timestamp : nil, seq: message.hasSeq ? message.seq : nil)
        payload.metrics.reserveCapacity(message.metrics.count)
        for m in message.metrics {
            var metric = Metric(
                name: m.hasName ? m.name : nil, alias: m.hasAlias ? m.alias : nil,
                timestamp: m.hasTimestamp ? m.timestamp : nil, datatype: m.hasDatatype ? m.datatype : nil)
            metric.isHistorical = m.isHistorical
            metric.isTransient = m.isTransient
            metric.isNull = m.isNull
            metric.hasProperties = m.hasProperties
            switch m.value {
            case .intValue(let v): metric.value = .int(v)
            case .longValue(let v): metric.value = .long(v)
            case .floatValue(let v): metric.value = .float(v)
            case .doubleValue(let v): metric.value = .double(v)
            case .booleanValue(let v): metric.value = .bool(v)
            case .stringValue(let v): metric.value = .string(v)
            case .bytesValue(let v): metric.value = .bytes(v.count)
            case .datasetValue: metric.value = .dataset
            case .templateValue: metric.value = .template
            case .extensionValue: metric.value = .extensionValue
            case nil: metric.value = .none
            }
            payload.metrics.append(metric)
        }
        return .success(payload)
    }

    /// The protobuf bytes (parksim's edge nodes, parkd's rebirth command).
    public func encoded() -> [UInt8] {
        var message = Org_Eclipse_Tahu_Protobuf_Payload()
        if let timestamp { message.timestamp = timestamp }
        if let seq { message.seq = seq }
        message.metrics = metrics.map { metric in
            var m = Org_Eclipse_Tahu_Protobuf_Payload.Metric()
            if let name = metric.name { m.name = name }
            if let alias = metric.alias { m.alias = alias }
            if let timestamp = metric.timestamp { m.timestamp = timestamp }
            if let datatype = metric.datatype { m.datatype = datatype }
            if metric.isHistorical { m.isHistorical = true }
            if metric.isTransient { m.isTransient = true }
            if metric.isNull { m.isNull = true }
            if metric.hasProperties { m.properties = Data() }
            switch metric.value {
            case .int(let v): m.intValue = v
            case .long(let v): m.longValue = v
            case .float(let v): m.floatValue = v
            case .double(let v): m.doubleValue = v
            case .bool(let v): m.booleanValue = v
            case .string(let v): m.stringValue = v
            case .bytes(let n): m.bytesValue = Data(count: n)
            case .dataset: m.datasetValue = Data()
            case .template: m.templateValue = Data()
            case .extensionValue: m.extensionValue = Data()
            case .none: break
            }
            return m
        }
        // Serialising a message built here cannot fail (no required fields, no Any).
        return (try? message.serializedBytes()) ?? []
    }

    /// NCMD `Node Control/Rebirth` = true (Sparkplug 3.0 §6.4.x): asks an edge node to send its
    /// NBIRTH and DBIRTHs again.
    public static func rebirthRequest(at milliseconds: UInt64) -> SparkplugPayload {
        SparkplugPayload(
            timestamp: milliseconds,
            metrics: [
                Metric(
                    name: "Node Control/Rebirth", timestamp: milliseconds,
                    datatype: SparkplugDataType.boolean.rawValue, value: .bool(true))
            ])
    }
}
