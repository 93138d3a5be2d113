import TelemetryCore
import UplinkWire

#if canImport(Glibc)
    import Glibc
#endif

/// What parkd knows of a park beyond its sensors: its area and green-area target.
public struct ParkSite: Sendable, Equatable {
    public var areaM2: Double?
    /// Share of the park's area that should be green: 10 % (Circular 35/2015/TT-BTNMT).
    public var greenTarget: Double = 0.10
    /// The central wastewater plant's outlet station and its QCVN 40 coefficients.
    public var wastewater: WastewaterOutlet?
    /// The PV cannot feed the grid (a zero-export installation): a missing export meter then
    /// means no export. Otherwise a renewable share needs the export meter's figure.
    public var zeroExport = false
    /// Zones by class (`ordinary`, `special`, `production`): rules with `applies_at: <class>`
    /// (QCVN 26) judge only the zones declared so.
    public var zoneClasses: [String: String] = [:]
    public init(areaM2: Double? = nil, greenTarget: Double = 0.10) {
        self.areaM2 = areaM2
        self.greenTarget = greenTarget
    }
}

/// What an energy meter measures, from the sensor inventory: a park's consumption is grid
/// import + PV − export; sub-meters are reported apart and never added to it. `energy`
/// meters not in the inventory measure gross consumption, `pv_energy` meters PV.
public enum MeterRole: String, Sendable, CaseIterable {
    case gridImport = "grid_import"
    case gridExport = "grid_export"
    case pv
    case subMeter = "sub_meter"
    case consumption

    package var index: Int { Self.allCases.firstIndex(of: self)! }

    /// Import meters, or gross consumption meters: where tariff periods and demand are read.
    package var gridConnection: Bool { self == .gridImport || self == .consumption }

    package static func byKind(_ kind: String) -> MeterRole? {
        switch kind {
        case "energy": .consumption
        case "pv_energy": .pv
        default: nil
        }
    }
}

/// Where QCVN 40 applies in a park (its central treatment plant's outlet) and the permit's
/// coefficients: Kq for the receiving water's flow or volume, Kf for the discharge flow
/// (QCVN 40:2011 §2.3–2.4). Limits of the scaled parameters are C × Kq × Kf.
public struct WastewaterOutlet: Sendable, Equatable {
    public var zone: String
    public var sensor: String?
    public var kq: Double
    public var kf: Double

    package init(zone: String, sensor: String?, kq: Double, kf: Double) {
        self.zone = zone
        self.sensor = sensor
        self.kq = kq
        self.kf = kf
    }
}

/// Minutes in exceedance are kept per rule and station: never summed across rules (TSP 1 h
/// and 24 h episodes are two figures, not one).
package struct ExceedanceKey: Hashable {
    package var rule: String
    package var sensor: String
}

package struct ParkPillar: Hashable {
    package var park: String
    package var pillar: Pillar
}

/// One park and pillar over one summary interval: what an energy manager, an environment
/// officer or an auditor reads.
public struct ParkSummary: Sendable, Equatable {
    public var park: String
    public var pillar: Pillar
    // Data quality
    public var expectedSensors: Int
    public var knownSensors: Int
    public var reportingSensors: Int
    public var staleSensors: Int
    public var readings: Int
    public var accepted: Int
    public var quality: SeriesState.Counts
    // Energy
    /// The park's consumption: grid import + PV − export, or its gross consumption meters;
    /// nil when no meter reported.
    public var energyKWh: Double?
    public var gridImportKWh: Double?
    public var gridExportKWh: Double?
    public var pvKWh: Double?
    public var subMeteredKWh: Double?
    /// The grid connection's kWh in each time-of-use period.
    public var tariffKWh: [TariffPeriod: Double]?
    /// The highest clock-aligned 15-minute energy × 4 at the grid connection.
    public var peakDemandKW: Double?
    /// PV consumed on site (PV − export) over consumption.
    public var renewableShare: Double?
    /// Why the share is missing although PV reported (no export figure to subtract).
    public var renewableShareMissing: String?
    /// The time-of-use schedules that split `tariffKWh` (more than one when one took over
    /// inside the interval).
    public var tariffSchedules: [TariffSchedule] = []
    /// Some 15-minute interval of the demand figure was spread from a meter reading less often
    /// than every 15 minutes: the peak is an estimate (flattened, never overstated).
    public var peakDemandEstimated = false
    // Emissions and green: the interval mean of each kind, and minutes in regulatory exceedance
    // per rule and station (while the value is beyond the limit, not the hysteresis tail)
    public var means: [String: Double]
    public var exceedanceMinutes: [String: [String: Double]]
    // Green
    public var greenAreaM2: Double?
    public var greenCoverage: Double?
    public var greenTarget: Double?
    public var irrigationM3: Double?
    /// Per station, rule and averaging time: the regulatory periods that closed in the interval.
    public var compliance: [ComplianceTally] = []

    /// Reporting sensors as a share of those expected (or known, when no inventory is given).
    public var completeness: Double? {
        let base = max(expectedSensors, knownSensors)
        return base > 0 ? Double(reportingSensors) / Double(base) : nil
    }

    package struct Builder {
        package var expected = 0
        package var known = 0
        package var reporting = 0
        package var readings = 0
        package var accepted = 0
        package var quality = SeriesState.Counts()
        package var increases: [String: Double] = [:]
        /// The park's energy meters: their figures, the grid connection's slot, the peak demand.
        package var meters: (figures: EnergyFigures, slot: Int, peak: Double?)?
        package var peakEstimated = false
        package var tariffSchedules: [TariffSchedule] = []
        package var sums: [String: (sum: Double, count: Int)] = [:]
        package var energies: [String: Double] = [:]
        package var lastGreenArea: [String: Double] = [:]
        package var staleSensors = Set<SeriesID>()
        package var exceedanceMilliseconds: [ExceedanceKey: Int64] = [:]
        package var compliance: [ComplianceTally] = []

        /// One kind's figures over the interval, from `known` series of it.
        package mutating func add(kind: String, _ f: ParkAccounting.Figures, known series: Int) {
            known += series
            reporting += f.reporting
            readings += f.readings
            accepted += f.outcomes.accepted
            quality.add(f.outcomes)
            if f.count > 0 {
                sums[kind, default: (0, 0)].sum += f.sum
                sums[kind, default: (0, 0)].count += f.count
            }
            if f.energy > 0 { energies[kind, default: 0] += f.energy }
            if f.increase != 0 { increases[kind, default: 0] += f.increase }
        }

        package func build(park: String, pillar: Pillar, site: ParkSite?) -> ParkSummary {
            var means: [String: Double] = [:]
            for (kind, s) in sums where s.count > 0 && !(pillar == .energy && (kind == "energy" || kind == "pv_energy"))
            {
                // Decibels average by energy (LAeq), not arithmetically.
                means[kind] = energies[kind].map { 10 * log10($0 / Double(s.count)) } ?? s.sum / Double(s.count)
            }
            // In sensor order: the same figures give the same bits, run after run.
            let greenArea =
                lastGreenArea.isEmpty ? nil : lastGreenArea.sorted { $0.key < $1.key }.reduce(0) { $0 + $1.value }
            var energy:
                (
                    consumption: Double?, gridImport: Double?, gridExport: Double?, pv: Double?, sub: Double?,
                    tariff: [TariffPeriod: Double]?, share: Double?
                ) = (nil, nil, nil, nil, nil, nil, nil)
            var shareMissing: String?
            if pillar == .energy, let (f, slot, _) = meters {
                func kwh(_ role: MeterRole) -> Double? {
                    f.reported & (1 << UInt8(role.index)) != 0 ? f.kwh[role.index] : nil
                }
                energy.gridImport = kwh(.gridImport)
                energy.gridExport = kwh(.gridExport)
                energy.pv = kwh(.pv)
                energy.sub = kwh(.subMeter)
                if let imported = energy.gridImport {
                    energy.consumption = imported + (energy.pv ?? 0) - (energy.gridExport ?? 0)
                } else {
                    energy.consumption = kwh(.consumption)
                }
                if f.reported & (1 << UInt8((slot == 0 ? MeterRole.gridImport : .consumption).index)) != 0 {
                    energy.tariff = Dictionary(
                        uniqueKeysWithValues: TariffPeriod.allCases.map { ($0, f.tariff[slot][$0.index]) })
                }
                if let pv = energy.pv, let total = energy.consumption, total > 0 {
                    if energy.gridExport != nil || site?.zeroExport == true {
                        energy.share = max(0, pv - (energy.gridExport ?? 0)) / total
                    } else {
                        // Taking a missing export as zero would count exported PV as consumed
                        // twice over: in consumption and in the share.
                        shareMissing = "no grid_export meter reported: exported PV unknown"
                    }
                }
            }
            return ParkSummary(
                park: park, pillar: pillar, expectedSensors: expected, knownSensors: known, reportingSensors: reporting,
                staleSensors: staleSensors.count, readings: readings, accepted: accepted, quality: quality,
                energyKWh: energy.consumption, gridImportKWh: energy.gridImport, gridExportKWh: energy.gridExport,
                pvKWh: energy.pv, subMeteredKWh: energy.sub, tariffKWh: energy.tariff,
                peakDemandKW: pillar == .energy ? meters?.peak : nil, renewableShare: energy.share,
                renewableShareMissing: shareMissing,
                tariffSchedules: energy.tariff == nil ? [] : tariffSchedules,
                peakDemandEstimated: pillar == .energy && meters?.peak != nil && peakEstimated,
                means: means,
                exceedanceMinutes: exceedanceMilliseconds.reduce(into: [:]) {
                    $0[$1.key.rule, default: [:]][$1.key.sensor] = Double($1.value) / 60_000
                },
                greenAreaM2: greenArea,
                greenCoverage: greenArea.flatMap { area in site?.areaM2.map { area / $0 } },
                greenTarget: pillar == .green ? (site?.greenTarget ?? 0.10) : nil,
                irrigationM3: pillar == .green ? increases["irrigation_volume"] : nil, compliance: compliance)
        }
    }

    /// The summary as a JSON object with fixed field order.
    package var json: String {
        var line = JSONLine()
        line.add("park", park)
        line.add("pillar", pillar.rawValue)
        if pillar == .energy {
            // null, not 0, when no meter reported: a missing figure is not a zero.
            if let v = energyKWh { line.add("energy_kwh", v) } else { line.addRaw("energy_kwh", "null") }
        }
        if let v = gridImportKWh { line.add("grid_import_kwh", v) }
        if let v = gridExportKWh { line.add("grid_export_kwh", v) }
        if let v = pvKWh { line.add("pv_kwh", v) }
        if let v = subMeteredKWh { line.add("sub_metered_kwh", v) }
        if let v = renewableShare { line.add("renewable_share", v) }
        if let why = renewableShareMissing {
            line.addRaw("renewable_share", "null")
            line.add("renewable_share_missing", why)
        }
        if let tariff = tariffKWh {
            var object = JSONLine()
            for period in TariffPeriod.allCases { object.add(period.rawValue, tariff[period] ?? 0) }
            line.addRaw("tariff_kwh", object.finished())
            // Which schedule split it, from which text, and whether its hours are confirmed.
            let items = tariffSchedules.map { schedule in
                var item = JSONLine()
                item.add("id", schedule.name)
                item.add("source", schedule.source)
                item.addRaw("confirmed", schedule.confirmed ? "true" : "false")
                return item.finished()
            }
            line.addRaw("tariff_schedules", "[" + items.joined(separator: ",") + "]")
        }
        if let v = peakDemandKW {
            line.add("peak_demand_15m_kw", v)
            if peakDemandEstimated { line.addRaw("peak_demand_estimated", "true") }
        }
        if !means.isEmpty {
            var object = JSONLine()
            for (kind, value) in means.sorted(by: { $0.key < $1.key }) { object.add(kind, value) }
            line.addRaw("means", object.finished())
        }
        if !exceedanceMinutes.isEmpty {
            var object = JSONLine()
            for (rule, sensors) in exceedanceMinutes.sorted(by: { $0.key < $1.key }) {
                var inner = JSONLine()
                for (sensor, value) in sensors.sorted(by: { $0.key < $1.key }) { inner.add(sensor, value) }
                object.addRaw(rule, inner.finished())
            }
            line.addRaw("exceedance_minutes", object.finished())
        }
        if let v = greenAreaM2 { line.add("green_area_m2", v) }
        if let v = greenCoverage { line.add("green_coverage", v) }
        if let v = greenTarget { line.add("green_target", v) }
        if let coverage = greenCoverage, let target = greenTarget {
            line.addRaw("green_target_met", coverage >= target ? "true" : "false")
        }
        if let v = irrigationM3 { line.add("irrigation_m3", v) }
        if !compliance.isEmpty {
            let items = compliance.map { tally in
                var item = JSONLine()
                item.add("rule", tally.rule)
                item.add("zone", tally.series.zone)
                item.add("kind", tally.series.kind)
                item.add("sensor", tally.series.sensor)
                item.add("period", tally.period.rawValue)
                item.add("limit", tally.limit)
                item.add("periods", tally.periods)
                item.add("valid", tally.valid)
                item.add("exceeded", tally.exceeded)
                item.add("capture", tally.capture)
                if let v = tally.max { item.add("max", v) }
                return item.finished()
            }
            line.addRaw("compliance", "[" + items.joined(separator: ",") + "]")
        }
        var q = JSONLine()
        q.add("expected_sensors", expectedSensors)
        q.add("known_sensors", knownSensors)
        q.add("reporting_sensors", reportingSensors)
        q.add("stale_sensors", staleSensors)
        if let c = completeness { q.add("completeness", c) }
        q.add("readings", readings)
        q.add("accepted", accepted)
        for outcome in [
            SeriesState.Outcome.invalid, .late, .duplicate, .outOfOrder, .calibrating, .error, .futureTime, .tooOld,
            .retained,
        ] {
            q.add(outcome.rawValue, quality[outcome])
        }
        line.addRaw("data_quality", q.finished())
        return line.finished()
    }
}
