/// When an output file rotates (`rotate: {max_bytes, keep}`): at `maxBytes`, keeping `keep` old files.
public struct FileRotation: Sendable, Equatable {
    public var maxBytes: Int
    public var keep: Int
    public init(maxBytes: Int = 100 * 1_048_576, keep: Int = 5) {
        self.maxBytes = maxBytes
        self.keep = keep
    }
}
