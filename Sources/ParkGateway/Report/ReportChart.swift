import ParkConfig
import ParkIngest
import TelemetryCore
import UplinkWire

/// A bar chart of one station's 24 hourly values against its limits, as numbers a template
/// turns into inline SVG: bars (shaded when the hour exceeded), limit segments, axis labels.
package struct ReportChart {
    package static let width = 720.0
    package static let height = 180.0
    package static let left = 44.0
    package static let bottom = 22.0
    package static let top = 8.0

    package struct Hour {
        package var value: Double?
        /// The limit in force for this hour (an hourly rule's), if any.
        package var limit: Double?
        package var exceeded = false
        package var valid = true
        /// A record with no readings: drawn as a grey mark at the base, titled "no data".
        package var silent = false
    }

    /// A level drawn across the whole day (a daily limit).
    package var dayLimit: Double?
    package var hours: [Hour]

    package func context(unit: String) -> [String: Any] {
        let values = hours.compactMap(\.value) + hours.compactMap(\.limit) + (dayLimit.map { [$0] } ?? [])
        let top = Swift.max(1, (values.max() ?? 1) * 1.15)
        let plotWidth = Self.width - Self.left - 8
        let plotHeight = Self.height - Self.bottom - Self.top
        let slot = plotWidth / 24
        func y(_ v: Double) -> Double { Self.top + plotHeight * (1 - Swift.min(v, top) / top) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var bars: [[String: Any]] = []
        var limits: [[String: Any]] = []
        for (h, hour) in hours.enumerated() {
            let x = Self.left + Double(h) * slot
            if let value = hour.value {
                bars.append([
                    "x": f(x + 2), "y": f(y(value)), "w": f(slot - 4), "h": f(Self.top + plotHeight - y(value)),
                    "class": hour.exceeded ? "exceeded" : (hour.valid ? "ok" : "invalid"),
                    "title": String(format: "%02d:00 %.1f %@%@", h, value, unit, hour.exceeded ? " (exceeded)" : ""),
                ])
            }
            if hour.silent {
                bars.append([
                    "x": f(x + 2), "y": f(Self.top + plotHeight - 3), "w": f(slot - 4), "h": f(3),
                    "class": "invalid", "title": String(format: "%02d:00 no data", h),
                ])
            }
            if let limit = hour.limit {
                limits.append(["x1": f(x), "x2": f(x + slot), "y": f(y(limit))])
            }
        }
        var ticks: [[String: Any]] = []
        for k in 0...4 {
            let v = top * Double(k) / 4
            ticks.append(["y": f(y(v)), "label": v >= 100 ? String(format: "%.0f", v) : String(format: "%.1f", v)])
        }
        let hoursLabels = stride(from: 0, to: 24, by: 3).map { h -> [String: Any] in
            ["x": f(Self.left + Double(h) * slot + slot / 2), "label": String(format: "%02d", h)]
        }
        var context: [String: Any] = [
            "width": f(Self.width), "height": f(Self.height), "left": f(Self.left), "right": f(Self.width - 8),
            "base": f(Self.top + plotHeight), "labelY": f(Self.height - 6), "bars": bars, "limits": limits,
            "ticks": ticks, "hours": hoursLabels,
        ]
        if let dayLimit { context["dayLimit"] = ["y": f(y(dayLimit)), "label": f(dayLimit)] }
        return context
    }
}
