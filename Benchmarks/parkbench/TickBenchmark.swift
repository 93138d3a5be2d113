import Foundation
import Logging
import ParkConfig
import ParkIngest
import ParkSimulation
import TelemetryCore

/// What the per-second tick costs a quiet gateway: `series` series under the shipped packs,
/// each with one reading, then 120 ticks a second apart on the arrival clock, none of which
/// finds a silent sensor (the packs' stale rules wait for minutes). The figure is the CPU time
/// of the ticks, per tick.
enum TickBenchmark {
    static func run(series: Int) throws {
        var text = try BenchSetup.common(packs: true, maxSeries: series + 1)
        text = "broker: {url: \"mqtt://127.0.0.1:1\"}\n" + text
        let configuration = try DaemonConfiguration.parse(text, file: "/tmp/tick-bench.yaml")
        let p = IngestPipeline(settings: configuration.pipelineSettings, logger: Logger(label: "bench"))
        var generator = TrafficGenerator(parks: max(1, series / 100), sensorsPerPark: min(100, series), seed: 5)
        let base = Int64(1_795_400_000_000)
        let arrival = EventTime(milliseconds: base)
        for _ in 0..<series {
            let m = generator.next(at: arrival)
            p.ingest(topic: m.topic, payload: Array(m.payload.utf8), arrival: arrival)
        }
        p.tick(at: arrival)
        let ticks = 120
        let before = cpuSeconds()
        var transitions = 0
        for k in 1...ticks { transitions += p.tick(at: EventTime(milliseconds: base + Int64(k) * 1000)) }
        let spent = cpuSeconds() - before
        print(
            String(
                format: "  tick %7d series (%d held): %.3f ms CPU per tick over %d ticks, %d transitions", series,
                p.seriesCount, spent * 1000 / Double(ticks), ticks, transitions))
    }

    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
