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
/// with 1 s summaries, 56 at 4 MiB, 37 with glibc's own threshold.) A fixed threshold also
/// stops glibc moving its trim threshold (free memory at a heap's top returned to the system)
/// to twice the mmap threshold, leaving it at 128 KiB: the heap's top was returned and faulted
/// in again over and over (157 764 page faults in that run; 137 196 with it at 8 MiB, twice
/// the threshold, as glibc would have it).
package enum LargeAllocations {
    package static let threshold: Int32 = 4 << 20
    package static let trimThreshold: Int32 = 2 * threshold

    /// Fixes both thresholds, each unless the environment sets it (`MALLOC_MMAP_THRESHOLD_`,
    /// `MALLOC_TRIM_THRESHOLD_`, or either in `GLIBC_TUNABLES`): the operator's choice wins.
    /// Returns whether it fixed the mmap threshold.
    @discardableResult
    package static func mapSeparately() -> Bool {
        #if canImport(Glibc)
            func setByOperator(_ variable: String, _ tunable: String) -> Bool {
                getenv(variable) != nil
                    || getenv("GLIBC_TUNABLES").map({ String(cString: $0).contains(tunable) }) == true
            }
            guard !setByOperator("MALLOC_MMAP_THRESHOLD_", "mmap_threshold") else { return false }
            if !setByOperator("MALLOC_TRIM_THRESHOLD_", "trim_threshold") {
                _ = mallopt(M_TRIM_THRESHOLD, trimThreshold)
            }
            return mallopt(M_MMAP_THRESHOLD, threshold) == 1
        #else
            return false
        #endif
    }
}
