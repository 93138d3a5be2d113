import Foundation
import MQTTClient
import ParkIngest
import TelemetryCore
import UplinkWire

extension ConfigurationParser {
    /// `rule_files:` (packs, and the windows they add) and `rules:`; ids must differ.
    package func parseRules(_ top: Fields, root: YAMLValue, into configuration: inout DaemonConfiguration)
        throws(ConfigurationError)
    {
        let summaries = configuration.summaries
        // Packs name the windows their rules read: one the configuration lacks is added (with
        // the same local alignment), one it defines otherwise is an error naming both.
        var packs: [(path: String, node: YAMLValue, pack: Fields)] = []
        if let files = top["rule_files"] {
            for item in try files.list() {
                let path = resolve(try item.nonEmptyString())
                configuration.ruleFiles.append(path)
                packs.append((path, item, try Self.readPack(path, from: item)))
            }
        }
        let offset = Int64(summaries.utcOffsetMinutes) * 60_000
        for (path, _, pack) in packs {
            guard let needed = pack["windows"] else { continue }
            for item in try needed.list() {
                let (spec, _, _) = try Self.window(item, offset: offset)
                if let have = configuration.windows.first(where: { $0.name == spec.name }) {
                    guard have.lengthMilliseconds == spec.lengthMilliseconds,
                        have.bucketMilliseconds == spec.bucketMilliseconds
                    else {
                        throw item.error(
                            "the pack needs window '\(spec.name)' as \(Self.shape(spec)), but the configuration defines it as \(Self.shape(have)); rename one"
                        )
                    }
                } else {
                    configuration.windows.append(spec)
                    configuration.addedWindows[spec.name] = path
                }
            }
        }
        let ruleParser = RuleParser(
            file: file,
            windows: Dictionary(
                configuration.windows.map { ($0.name, $0.lengthMilliseconds) }, uniquingKeysWith: { a, _ in a }),
            utcOffsetMinutes: summaries.utcOffsetMinutes,
            validity: configuration.validity)
        for (path, _, pack) in packs {
            guard let rules = pack["rules"] else {
                throw ConfigurationError(file: path, keyPath: "", message: "no 'rules' list")
            }
            configuration.rules += try rules.list().map(ruleParser.parse)
        }
        if let rules = top["rules"] {
            let items = try rules.list()
            configuration.rules += try items.map(ruleParser.parse)
            configuration.inlineRules = items.map(\.flowText)
        }
        var ids = Set<String>()
        for rule in configuration.rules where !ids.insert(rule.id).inserted {
            throw root.error("rule id '\(rule.id)' is used twice; ids name alert episodes and must differ")
        }
    }
}
