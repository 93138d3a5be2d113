@testable import ParkConfig

/// Why a configuration text is refused: the error's text, or "" when it is taken.
enum ConfigurationRefusal {
    static func text(_ yaml: String) -> String {
        do {
            _ = try DaemonConfiguration.parse(yaml, file: "/etc/parkd/parkd.yaml")
            return ""
        } catch { return "\(error)" }
    }
}
