/// Why a payload gave no reading: specific enough to fix the sender.
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Equatable {
        case empty
        case tooLarge = "too_large"
        case malformed
        case missingField = "missing_field"
        case badField = "bad_field"
        case badUnit = "bad_unit"
        /// A time that is not a time, or outside the years 0001-9999.
        case badTime = "bad_time"
    }

    public var reason: Reason
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }
}
