import TelemetryCore

extension JSONLine {
    /// A rollup's figures (the history API's lines and the uplink's items alike).
    package mutating func add(figures r: Rollup) {
        add("count", r.count)
        add("mean", r.mean)
        add("min", r.min)
        add("max", r.max)
        add("last", r.last)
        if let v = r.leq { add("leq", v) }
        if let v = r.increase { add("increase", v) }
    }
}
