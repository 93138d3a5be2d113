import Foundation
import FuzzHarness
import Testing

/// Every input in the fuzz corpus, the seeds and each input that ever crashed parkd
/// (`crash-*`), through the same targets `make fuzz` runs. A trap here ends the test process:
/// the suite fails, and the input's file name says which one.
@Suite("Fuzz corpus and crash regressions")
struct FuzzRegressionTests {
    @Test("every corpus input of every fuzz target runs without a trap", arguments: FuzzHarness.targets)
    func corpus(target: String) throws {
        let folder = FuzzHarness.corpusRoot + "/" + target
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(!names.isEmpty, "no corpus for \(target) in \(folder)")
        for name in names {
            let bytes = try #require(FileManager.default.contents(atPath: folder + "/" + name))
            #expect(FuzzHarness.run(target, Array(bytes)), "unknown target \(target)")
        }
    }

    @Test("the snapshot target's seeds are snapshots the decoder takes, so fuzzing starts past the header")
    func snapshotSeeds() throws {
        for (name, layout, series) in [("seed-v4", 0, 3), ("seed-v1", 0, 2), ("seed-v4-shared", 1, 2)] {
            let bytes = try #require(FileManager.default.contents(atPath: FuzzHarness.corpusRoot + "/snapshot/" + name))
            #expect(FuzzHarness.restoreSnapshot(Array(bytes), layout: layout)?.1 == series, "\(name)")
        }
    }
}
