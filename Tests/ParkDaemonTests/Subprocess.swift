import Foundation

/// A Debian tool the tests run (protoc, promtool): its path, required, since `make test`
/// installs it.
enum Subprocess {
    static func tool(_ name: String) throws -> String {
        guard
            let path = ["/usr/bin/\(name)", "/usr/local/bin/\(name)"].first(where: FileManager.default.isExecutableFile)
        else { throw ToolMissing(name: name) }
        return path
    }

    struct ToolMissing: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not installed (make test installs it from Debian)" }
    }

    /// Runs `tool` with `input` on its standard input (or the file `inputFile`, which a tool
    /// that fails before reading cannot turn into a broken pipe); its exit status, standard
    /// output, and standard error after it.
    static func run(
        _ tool: String, _ arguments: [String], input: Data = Data(), inputFile: URL? = nil, directory: String? = nil
    ) throws -> (status: Int32, output: Data, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdin = Pipe()
        let out = Pipe()
        let err = Pipe()
        process.standardInput = try inputFile.map { try FileHandle(forReadingFrom: $0) } ?? stdin
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if inputFile == nil {
            stdin.fileHandleForWriting.write(input)
            try stdin.fileHandleForWriting.close()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, errors)
    }
}
