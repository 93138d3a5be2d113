import Foundation

/// Executables built beside the test bundle (`swift build --build-tests` builds them too).
public enum BuiltProduct {
    public static func path(_ name: String) throws -> String {
        var candidates: [String] = []
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent(name).path)
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug/" + name)
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw HarnessError("\(name) is not built; looked in \(candidates.joined(separator: ", "))")
    }
}
