import Sparkplug
import TelemetryCore

/// What the Sparkplug host keeps and hands out: its settings, each edge node's state and
/// metric tables (saved across restarts), one message's outcome and the events it counts.
extension SparkplugHost {
    package struct Settings: Sendable, Equatable {
        /// How long a missing sequence number may take to arrive before it counts as lost.
        package var reorderTimeoutMilliseconds: Int64 = 2_000
        /// Whether parkd publishes rebirth requests (NCMD); off, it only counts them.
        package var requestRebirth = false
        /// The least time between two rebirth requests to one edge node.
        package var rebirthIntervalMilliseconds: Int64 = 30_000
        /// Edge nodes held at most; past it a new node's messages are refused.
        package var maxNodes = 10_000
        /// Devices one edge node may birth; past it a new device's DBIRTH is refused.
        package var maxDevicesPerNode = 10_000

        package init() {}
    }

    package struct NodeKey: Hashable, Codable, Sendable, Comparable {
        package var group: String
        package var node: String
        package static func < (a: Self, b: Self) -> Bool { (a.group, a.node) < (b.group, b.node) }
    }

    /// One metric of a BIRTH: its series, or why it gives none.
    package struct MetricDef: Codable, Sendable, Equatable {
        package var name: String
        package var datatype: UInt32?
        package var series: SeriesID?
        /// `control`, `unmapped` or an unknown pillar: nothing of this metric is read.
        package var skip: String?
    }

    /// A node's own metrics, or one device's.
    package struct Table: Codable, Sendable, Equatable {
        package var defs: [MetricDef] = []
        package var byAlias: [UInt64: Int] = [:]
        package var byName: [String: Int] = [:]
        package var alive = false
        /// When it died, for the alert's episode (nil while alive).
        package var diedAt: Int64?

        package var series: [SeriesID] { defs.compactMap(\.series) }
    }

    package struct Node: Codable, Sendable, Equatable {
        package var bdSeq: UInt64?
        /// The last sequence number taken (nil before a BIRTH).
        package var seq: UInt8?
        package var own = Table()
        package var devices: [String: Table] = [:]
        /// Sequence numbers skipped and not yet arrived, and when they count as lost.
        package var missing: Set<UInt8> = []
        package var gapDeadline: Int64?
        package var wantsRebirth = false
        package var lastRequest: Int64?
    }

    /// What one message gave.
    package struct Outcome {
        package var readings: [(series: SeriesID, reading: Reading, historical: Bool)] = []
        /// Series made stale by a DEATH, and those a BIRTH brought back.
        package var died: [SeriesID] = []
        package var revived: [(series: SeriesID, since: EventTime)] = []
        package var diedAt: EventTime?
        package var cause = ""
        /// A refusal of the whole message: reason and detail.
        package var refused: (reason: RejectReason, detail: String)?
    }

    package enum Event: String, CaseIterable, Sendable, Comparable {
        case nodeBirth = "node_birth"
        case deviceBirth = "device_birth"
        case nodeDeath = "node_death"
        case deviceDeath = "device_death"
        /// An NDEATH whose bdSeq is not the current BIRTH's: an old will, ignored.
        case staleDeath = "stale_death"
        case dataBeforeBirth = "data_before_birth"
        case unknownAlias = "unknown_alias"
        case seqGap = "seq_gap"
        case missingSeq = "missing_seq"
        case rebirthRequested = "rebirth_requested"
        /// A sequence number repeated or from behind the current one (a redelivery).
        case oldSeq = "old_seq"
        /// Two metrics (or two nodes or devices) that would name the same series: the later is refused.
        case collision
        /// A retained copy of a BIRTH, DATA or DEATH (Sparkplug forbids retaining them): ignored.
        case retained
        /// A rebirth was needed while requests are off (`sparkplug.rebirth: false`).
        case rebirthNeeded = "rebirth_needed"
        /// NCMD, DCMD and STATE: other hosts' traffic, not data.
        case command
        package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }
}
