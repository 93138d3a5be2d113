#if canImport(Glibc)
    import CMalloc
    import Glibc
#endif

/// glibc's allocator moves its mmap threshold up to the size of each large block freed (up to
/// 32 MiB), so that later blocks of up to that size come from the heap instead. A daemon whose
/// series tables grow by doubling frees ever larger blocks; each raises the threshold, and the
/// next growth leaves its old block as a hole in the heap that is seldom returned. At 100 000
/// series that was tens of MiB of resident memory that held nothing. A fixed threshold keeps
/// every block of 4 MiB or more in a mapping of its own, returned whole when it is freed.
/// (1 MiB saved the same; 8 MiB nothing. Below 4 MiB, the outputs a summary interval builds
/// would be mapped and faulted in afresh each time: 230 mappings in a 100 000-sensor run
/// with 1 s summaries, 56 at 4 MiB, 37 with glibc's own threshold.)
package enum LargeAllocations {
    package static let threshold: Int32 = 4 << 20

    /// Fixes the threshold, unless the environment sets one (`MALLOC_MMAP_THRESHOLD_`, or
    /// `glibc.malloc.mmap_threshold` in `GLIBC_TUNABLES`): the operator's choice wins.
    /// Returns whether it did.
    @discardableResult
    package static func mapSeparately() -> Bool {
        #if canImport(Glibc)
            guard getenv("MALLOC_MMAP_THRESHOLD_") == nil,
                getenv("GLIBC_TUNABLES").map({ String(cString: $0).contains("mmap_threshold") }) != true
            else { return false }
            return mallopt(M_MMAP_THRESHOLD, threshold) == 1
        #else
            return false
        #endif
    }
}
