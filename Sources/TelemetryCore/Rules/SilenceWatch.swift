/// Which of the rule engine's series a silence tick must look at. A series with an alert
/// pending or firing, or an exceedance open, is engaged: a tick looks at it every time. The
/// others can change only once a stale rule's silence is up, and `due` is a lower bound on
/// the earliest such moment: a tick before it looks at the engaged alone, one at or after it
/// at every series, and then sets the bound afresh. A quiet gateway of a million series went
/// over all of them every second (20 ms a tick); now it looks at none.
struct SilenceWatch: Sendable {
    /// The engine's entries (by index) that are engaged.
    private(set) var engaged = Set<Int32>()
    /// Arrival clock, ms. `.min` until the first full pass.
    private(set) var due = Int64.min

    /// A series outside `engaged`, last seen at `seen`, goes stale `wait` later at the
    /// earliest: the bound comes down to that if it is earlier. Called whenever that moment
    /// may have come closer than the bound knows (a new series, a first or restored sighting,
    /// a series leaving `engaged`).
    mutating func lower(seen: Int64, wait: Int64) {
        // Saturating: a wrapped sum would move the bound the wrong way at the clock's ends.
        let (sum, overflow) = seen.addingReportingOverflow(wait)
        due = min(due, overflow ? (seen < 0 ? .min : .max) : sum)
    }

    /// Notes whether entry `e` is engaged; true when it has just left (its silence must then
    /// be folded into the bound with `lower`).
    mutating func set(_ e: Int, engaged now: Bool) -> Bool {
        if now {
            engaged.insert(Int32(e))
            return false
        }
        return engaged.remove(Int32(e)) != nil
    }

    /// After the engine's entries moved (series forgotten): the engaged ones by their new
    /// indexes. The bound holds as it is (a bound over fewer series).
    mutating func reset(engaged entries: some Sequence<Int>) {
        engaged = Set(entries.lazy.map(Int32.init))
    }

    /// Whether a tick at `time` must look at every series.
    func isDue(at time: Int64) -> Bool { time >= due }

    /// Before a full pass recounts the bound from every series outside `engaged`.
    mutating func startRecount() { due = .max }

    /// The engaged entries in index order: the order a pass over all of them visits them.
    var inOrder: [Int] { engaged.sorted().map(Int.init) }
}
