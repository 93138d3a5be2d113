import FuzzHarness

#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's entry point, linked from libclang_rt.fuzzer (the package builds this target
/// only with PARKTELEMETRY_FUZZ set: `make fuzz`). SwiftPM names the executable's entry point
/// itself, so libFuzzer's own `main` cannot be used; its driver is called from ours instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target named by the first argument; read once, then only by libFuzzer's callback thread.
nonisolated(unsafe) var selected = ""

@main
struct ParkFuzz {
    /// `parkfuzz TARGET [libFuzzer options] [corpus dirs]`
    static func main() {
        var arguments = CommandLine.arguments
        guard arguments.count >= 2, FuzzHarness.targets.contains(arguments[1]) else {
            print("usage: parkfuzz TARGET [libFuzzer options] [corpus...]; targets: \(FuzzHarness.targets.joined(separator: " "))")
            return
        }
        selected = arguments.remove(at: 1)
        // libFuzzer keeps pointers into argv for the whole run: these strings are never freed.
        var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var argc = CInt(arguments.count)
        pointers.withUnsafeMutableBufferPointer { buffer in
            var argv = buffer.baseAddress!
            exit(
                LLVMFuzzerRunDriver(&argc, &argv) { data, count in
                    FuzzHarness.run(selected, data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
                    return 0
                })
        }
    }
}
