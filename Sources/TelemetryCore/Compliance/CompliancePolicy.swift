/// How a station's compliance periods treat time: how long after its end a period waits for
/// delayed readings, how long a closed hour still takes readings (re-issued with a higher
/// revision), and how long one reading may stand for when periods weight readings by time.
public struct CompliancePolicy: Sendable, Equatable, Codable {
    /// A period closes this long after it ends (`lateness:`): a datalogger that delivers
    /// 09:59 at 10:00:20 still lands in the 09:00 hour's first issue.
    public var latenessMilliseconds: Int64
    /// A reading for an hour closed less than this long ago re-issues the hour (and the 8-hour
    /// means and day it is part of) with the next revision number (`compliance.revise_within`).
    public var reviseMilliseconds: Int64
    /// The longest time one reading stands for (`compliance.sampling_interval`): a reading
    /// weighs the time until the next one, capped here, so a station that reports faster while
    /// it is loud does not skew its own average.
    public var samplingMilliseconds: Int64
    /// An hour with more readings than this is not kept for revisions once closed (memory):
    /// readings arriving for it afterwards are counted late. One reading every 5 s fits.
    public var revisableReadings: Int

    public init(
        latenessMilliseconds: Int64 = 300_000, reviseMilliseconds: Int64 = 86_400_000,
        samplingMilliseconds: Int64 = 900_000, revisableReadings: Int = 720
    ) {
        self.latenessMilliseconds = latenessMilliseconds
        self.reviseMilliseconds = reviseMilliseconds
        self.samplingMilliseconds = samplingMilliseconds
        self.revisableReadings = revisableReadings
    }
}
