import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// How one kind's value behaves in the simulator: its typical level, noise, and the profile
/// over local time that shapes it.
struct KindModel {
    let typical: Double
    let noise: Double
    /// The noiseless value at a local time, given the sensor's level (1 = typical).
    let profile: @Sendable (LocalClock, Double) -> Double

    static func model(for kind: String) -> KindModel {
        switch kind {
        case "active_power", "energy":
            return KindModel(typical: 1200, noise: 15) { clock, level in 1200 * level * Signals.loadShare(clock) }
        case "pv_power", "pv_energy":
            return KindModel(typical: 800, noise: 0) { clock, level in 800 * level * Signals.solarShare(clock) }
        case "battery_soc":
            return KindModel(typical: 60, noise: 0.3) { clock, _ in 60 + 25 * sin(Double.pi * (clock.hour - 10) / 12) }
        case "power_factor": return KindModel(typical: 0.93, noise: 0.005) { _, _ in 0.93 }
        case "pm25": return KindModel(typical: 35, noise: 1.5) { clock, level in Signals.pm25(clock) * level }
        case "pm10": return KindModel(typical: 55, noise: 2.5) { clock, level in Signals.pm25(clock) * 1.6 * level }
        case "tsp": return KindModel(typical: 90, noise: 4) { clock, level in Signals.pm25(clock) * 2.5 * level }
        case "so2": return KindModel(typical: 20, noise: 1) { _, level in 20 * level }
        case "no2":
            return KindModel(typical: 35, noise: 1.5) { clock, level in Signals.pm25(clock) / 40 * 35 * level }
        case "co":
            return KindModel(typical: 1200, noise: 40) { clock, level in
                1200 * level * (0.8 + 0.4 * Signals.loadShare(clock))
            }
        case "o3":
            return KindModel(typical: 60, noise: 2) { clock, level in (30 + 70 * Signals.solarShare(clock)) * level }
        case "co2": return KindModel(typical: 420, noise: 3) { _, level in 420 * level }
        case "noise": return KindModel(typical: 60, noise: 0.8) { clock, level in Signals.noise(clock) * level }
        case "stack_dust":
            return KindModel(typical: 40, noise: 2) { clock, level in 40 * level * Signals.loadShare(clock) }
        case "stack_so2": return KindModel(typical: 150, noise: 5) { _, level in 150 * level }
        case "stack_nox": return KindModel(typical: 250, noise: 8) { _, level in 250 * level }
        case "stack_co": return KindModel(typical: 120, noise: 5) { _, level in 120 * level }
        case "ww_ph": return KindModel(typical: 7.2, noise: 0.04) { _, _ in 7.2 }
        case "ww_cod":
            return KindModel(typical: 60, noise: 2) { clock, level in
                60 * level * (0.8 + 0.3 * Signals.loadShare(clock))
            }
        case "ww_bod5": return KindModel(typical: 25, noise: 1) { _, level in 25 * level }
        case "ww_tss": return KindModel(typical: 40, noise: 1.5) { _, level in 40 * level }
        case "ww_nh4": return KindModel(typical: 4, noise: 0.2) { _, level in 4 * level }
        case "ww_flow":
            return KindModel(typical: 120, noise: 3) { clock, level in 120 * level * Signals.loadShare(clock) }
        case "ww_temperature": return KindModel(typical: 31, noise: 0.1) { _, _ in 31 }
        case "irrigation_flow", "irrigation_volume":
            return KindModel(typical: 12, noise: 0) { clock, level in
                (6..<6.5).contains(clock.hour) || (17.5..<18).contains(clock.hour) ? 12 * level : 0
            }
        case "green_area": return KindModel(typical: 210_000, noise: 0) { _, level in 210_000 * level }
        case "air_temperature": return KindModel(typical: 28, noise: 0.1) { clock, _ in Signals.airTemperature(clock) }
        case "humidity":
            return KindModel(typical: 75, noise: 0.5) { clock, _ in
                min(100, 90 - 2.5 * (Signals.airTemperature(clock) - 24))
            }
        case "canopy_temperature":
            return KindModel(typical: 29, noise: 0.15) { clock, _ in Signals.airTemperature(clock) + 1.5 }
        case "ndvi": return KindModel(typical: 0.72, noise: 0.005) { _, _ in 0.72 }
        case "soil_moisture": return KindModel(typical: 30, noise: 0.1) { _, _ in 30 }  // stateful: see Simulation
        default: return KindModel(typical: 1, noise: 0.01) { _, level in level }
        }
    }
}
