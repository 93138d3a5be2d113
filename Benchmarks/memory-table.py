#!/usr/bin/env python3
"""Where parkd's memory goes with many series (`make bench-memory`).

Replays the benchmark's 100 000-series feed (three readings a series, the four shipped
packs, windows 1m 15m 1h 8h 24h) under heaptrack, and files each live allocation at the
peak under the structure that made it, from its call stack. Then peak RSS without
heaptrack for 100 000 and 1 000 000 series (and a tiny feed: the process itself), so the
growth per series is measured, not guessed. BASELINE=path/to/parkd runs the same RSS
figures for another build in the same run.
"""
import argparse, collections, os, re, subprocess, sys, tempfile

# Structure, and the frames that allocate it, most specific first: the first whose pattern
# matches any frame of an allocation's stack takes it (heaptrack lists inlined frames in
# an order of its own, so the innermost frame alone would misfile them).
CATEGORIES = [
    ("window rings: bucket storage", r"BucketRing\.|QuantileSketch|LeanBucket"),
    ("raw ring and seq memory", r"RawRing|SeqMemory"),
    ("series state: the windows array", r"SeriesState\.init"),
    ("rule state: engine entries, window caches, index", r"RuleEngine|RuleStage"),
    ("compliance trackers", r"ComplianceStage|ComplianceTracker"),
    ("history stage", r"HistoryStage"),
    ("park accounting", r"ParkAccounting"),
    ("topic cache (router)", r"TopicRouter"),
    ("series table: slots, names, per-series arrays", r"SeriesTable"),
    ("replay: feed lines, shard cache", r"FeedBatch|FeedPrefetch|TopicShards|FeedReader"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def peak_rss_mib(parkd, feed, config, out):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", parkd, "replay", feed, "--config", config, "--out", out,
                        "--workers", "1"], text=True, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"parkd replay failed: {r.stderr[-600:]}")
    return int(r.stderr.strip().splitlines()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parkd", required=True)
    ap.add_argument("--parkbench", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--million", type=int, default=1, help="also measure 1 000 000 series (0: skip)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="memory-table-")
    try:
        run([a.parkbench, "feeds", "--out", work])
        feed = os.path.join(work, "feed-100k.jsonl")
        config = os.path.join(work, "packs.yaml")
        tiny = os.path.join(work, "tiny.jsonl")
        with open(os.path.join(work, "feed-1k.jsonl")) as src, open(tiny, "w") as dst:
            for _ in range(10):
                dst.write(src.readline())
        series = 100_000

        def structures(binary, label):
            """Heaptrack: the live heap at its peak, by call stack, filed by structure."""
            trace = os.path.join(work, "trace-" + label)
            run(["heaptrack", "-o", trace, binary, "replay", feed, "--config", config, "--out",
                 os.path.join(work, "ht-" + label), "--workers", "1"])
            flame = os.path.join(work, "flame-" + label + ".txt")
            run(["heaptrack_print", "-f", trace + ".zst", "--print-peaks", "0", "--print-allocators", "0",
                 "--print-temporary", "0", "--print-leaks", "0", "-F", flame, "--flamegraph-cost-type", "peak"])
            with open(flame) as f:
                demangled = run(["swift", "demangle", "--simplified"], input=f.read()).stdout
            totals = collections.Counter()
            compiled = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
            for line in demangled.splitlines():
                stack, _, n = line.rstrip().rpartition(" ")
                if not n.isdigit():
                    continue
                frames = [f.split(" (")[0] for f in stack.split(";") if f]
                name = "other (runtime, configuration, outputs)"
                for category, pattern in compiled:
                    if any(pattern.search(frame) for frame in frames):
                        name = category
                        break
                totals[name] += int(n)
            rss = peak_rss_mib(binary, feed, config, os.path.join(work, "r-" + label))
            return totals, sum(totals.values()), rss

        measured = [("parkd", structures(a.parkd, "parkd"))]
        if a.baseline:
            measured.append(("baseline", structures(a.baseline, "baseline")))
        process = peak_rss_mib(a.parkd, tiny, config, os.path.join(work, "t"))
        print(f"memory of parkd replay holding {series} series (3 readings each; packs; windows 1m 15m 1h 8h 24h),")
        print("MiB and bytes a series:")
        header = f"  {'structure':52}" + "".join(f" {label + ' MiB':>13} {'B/series':>9}" for label, _ in measured)
        print(header)
        order = [name for name, _ in measured[0][1][0].most_common()]
        for _, (totals, _, _) in measured[1:]:
            order += [name for name in totals if name not in order]
        for name in order:
            print(f"  {name:52}" + "".join(
                f" {t[name] / 2**20:13.1f} {t[name] / series:9.0f}" for _, (t, _, _) in measured))
        print(f"  {'live heap at its peak (heaptrack)':52}" + "".join(
            f" {h / 2**20:13.1f} {h / series:9.0f}" for _, (_, h, _) in measured))
        print(f"  {'RSS beyond the live heap: code, libraries, allocator':52}" + "".join(
            f" {r - h / 2**20:13.1f} {'':9}" for _, (_, h, r) in measured))
        print(f"  {'peak RSS':52}" + "".join(
            f" {r:13.1f} {r * 2**20 / series:9.0f}" for _, (_, _, r) in measured))
        print(f"  (the process alone, replaying a 10-line feed: {process:.1f} MiB)")
        print()
        rows = [("parkd", a.parkd)] + ([("baseline", a.baseline)] if a.baseline else [])
        sizes = [100_000] + ([1_000_000] if a.million else [])
        print("peak RSS of parkd replay, by series held (3 readings each, packs):")
        for label, binary in rows:
            cfg = config
            if label == "baseline":
                cfg = os.path.join(work, "packs.yaml")
            figures = []
            for n in sizes:
                path = feed if n == 100_000 else os.path.join(work, f"feed-{n}.jsonl")
                if not os.path.exists(path):
                    run([a.parkbench, "feeds", "--out", work, "--sensors", str(n)])
                figures.append((n, peak_rss_mib(binary, path, cfg, os.path.join(work, f"{label}-{n}"))))
            text = ", ".join(f"{n:,} series {m:,.0f} MiB" for n, m in figures)
            if len(figures) == 2:
                (n1, m1), (n2, m2) = figures
                text += f"; {((m2 - m1) * 2**20 / (n2 - n1)):,.0f} bytes a series between them"
            print(f"  {label:9} process alone {peak_rss_mib(binary, tiny, cfg, os.path.join(work, label + '-t')):.0f} MiB; {text}")
    finally:
        subprocess.run(["rm", "-rf", work])


main()
