import Logging

/// Logging to standard error at the configured `log.level` (parkd and parkd-central alike).
package func bootstrapLogging(_ levelName: String) {
    let level = Logger.Level(rawValue: levelName) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
