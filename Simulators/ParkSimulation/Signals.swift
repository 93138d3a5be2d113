import TelemetryCore

#if canImport(Glibc)
    import Glibc
#endif

/// The park's local time of day and year, the inputs of every diurnal and seasonal profile.
struct LocalClock {
    let hour: Double  // 0..<24, fractional
    let month: Int  // 1...12
    let weekday: Int  // 0 = Monday ... 6 = Sunday
    let isPeakTariff: Bool

    init(_ time: EventTime, utcOffsetMinutes: Int) {
        let calendar = LocalCalendar(utcOffsetMinutes: utcOffsetMinutes)
        isPeakTariff =
            TariffSchedule.evn2014.period(weekday: calendar.weekday(time), minute: calendar.minuteOfDay(time)) == .peak
        let dayMillis = time.milliseconds - calendar.floor(time, step: LocalCalendar.dayMilliseconds)
        hour = Double(dayMillis) / 3_600_000
        weekday = calendar.weekday(time)
        month = RFC3339.civilFromDays(Int(calendar.day(time))).1
    }

}

/// What a kind's value would be with no noise at a given local time: the realistic shapes of
/// the park day: `level` scales a sensor around its kind's typical value.
enum Signals {
    /// Clear-sky PV output as a share of peak near 11° N: zero at night, highest near noon,
    /// the dry season (Dec–Apr) brighter than the rainy season.
    static func solarShare(_ clock: LocalClock) -> Double {
        let sunrise = 5.9
        let sunset = 18.0
        guard clock.hour > sunrise && clock.hour < sunset else { return 0 }
        let x = (clock.hour - sunrise) / (sunset - sunrise)
        let shape = pow(sin(Double.pi * x), 1.3)
        let season = [1.0, 1.05, 1.03, 0.97, 0.88, 0.8, 0.75, 0.78, 0.8, 0.82, 0.88, 0.95][clock.month - 1]
        return shape * season
    }

    /// Factory load as a share of peak: two shifts, a lunch dip, lower on Sunday and at night,
    /// trimmed in EVN peak hours where plants shift load.
    static func loadShare(_ clock: LocalClock) -> Double {
        let h = clock.hour
        var share: Double
        switch h {
        case 6..<7: share = 0.55 + (h - 6) * 0.35
        case 7..<11.5: share = 0.95
        case 11.5..<13: share = 0.7
        case 13..<17: share = 0.95
        case 17..<22: share = 0.8
        case 22..<24, 0..<6: share = 0.45
        default: share = 0.9
        }
        if clock.isPeakTariff { share *= 0.9 }
        if clock.weekday == 6 { share *= 0.6 }
        return share
    }

    /// PM2.5 in µg/m³: dry season about 63, rainy about 24, a peak two hours after the
    /// morning and evening rush.
    static func pm25(_ clock: LocalClock) -> Double {
        let dry = [12, 1, 2, 3, 4].contains(clock.month)
        let base = dry ? 63.0 : 24.0
        let morning = exp(-pow(clock.hour - 9, 2) / 2.5)
        let evening = exp(-pow(clock.hour - 20, 2) / 3)
        return base * (0.75 + 0.45 * morning + 0.3 * evening)
    }

    /// Equivalent noise level in dBA: about 64 by day, 52 at night.
    static func noise(_ clock: LocalClock) -> Double {
        (6..<21).contains(clock.hour) ? 64 : 52
    }

    static func airTemperature(_ clock: LocalClock) -> Double {
        27 + 5 * sin(Double.pi * (clock.hour - 9) / 12)
    }
}
