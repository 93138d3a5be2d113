/// What one evaluation of a rule's condition says for one series.
public enum ConditionSignal: Sendable, Equatable {
    /// Past the limit: fire (after `for`).
    case breach(Double)
    /// Between the limit and the clear threshold: a firing alert stays, a pending one lapses.
    case hold(Double)
    /// Back past the clear threshold: resolve.
    case clear(Double)
}

/// The lifecycle of one (rule, series) pair: idle → pending → firing → resolved (idle).
///
/// One firing transition per episode (plus optional re-notifications), never one per message.
/// Flapping is damped: when the condition changed in more than 40 % of the last 20
/// evaluations, a firing alert is not resolved until it calms down below 20 %.
public struct AlertTracker: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case idle
        case pending(since: EventTime)
        case firing(since: EventTime, notified: EventTime)
    }

    public private(set) var phase: Phase = .idle
    private var history: UInt32 = 0
    private var evaluations = 0
    public private(set) var flapping = false

    public init() {}

    public init(restoring phase: Phase) { self.phase = phase }

    /// Idle with no breach in its recent history: nothing worth keeping.
    public var isQuiet: Bool { phase == .idle && history == 0 }

    public enum Step: Sendable, Equatable {
        case fired(since: EventTime)
        case renotified(since: EventTime)
        case resolved(since: EventTime)
    }

    public mutating func step(_ signal: ConditionSignal, at time: EventTime, rule: Rule) -> Step? {
        step(signal, at: time, forMilliseconds: rule.forMilliseconds, renotifyMilliseconds: rule.renotifyMilliseconds)
    }

    public mutating func step(
        _ signal: ConditionSignal, at time: EventTime, forMilliseconds: Int64, renotifyMilliseconds: Int64?
    ) -> Step? {
        record(signal)
        switch (phase, signal) {
        case (.idle, .breach):
            if forMilliseconds <= 0 {
                phase = .firing(since: time, notified: time)
                return .fired(since: time)
            }
            phase = .pending(since: time)
            return nil
        case (.idle, _):
            return nil
        case (.pending(let since), .breach):
            guard time.milliseconds - since.milliseconds >= forMilliseconds else { return nil }
            phase = .firing(since: since, notified: time)
            return .fired(since: since)
        case (.pending, _):
            phase = .idle
            return nil
        case (.firing(let since, let notified), .breach), (.firing(let since, let notified), .hold):
            if let every = renotifyMilliseconds, time.milliseconds - notified.milliseconds >= every {
                phase = .firing(since: since, notified: time)
                return .renotified(since: since)
            }
            return nil
        case (.firing(let since, _), .clear):
            if flapping { return nil }
            phase = .idle
            return .resolved(since: since)
        }
    }

    /// Keeps the last 20 evaluations as bits (1 = breach) and the flapping verdict.
    private mutating func record(_ signal: ConditionSignal) {
        let bit: UInt32
        switch signal {
        case .breach: bit = 1
        case .hold: bit = history & 1
        case .clear: bit = 0
        }
        history = ((history << 1) | bit) & 0xF_FFFF
        evaluations = min(evaluations + 1, 20)
        guard evaluations >= 10 else { return }
        let changes = ((history ^ (history >> 1)) & ((1 << UInt32(evaluations - 1)) - 1)).nonzeroBitCount
        let share = Double(changes) / Double(evaluations - 1)
        if share > 0.4 { flapping = true } else if share < 0.2 { flapping = false }
    }
}
