#!/usr/bin/env python3
"""parkd's memory under sensor-name churn: does it follow the live series, or every name seen?

Starts mosquitto and the given parkd on loopback with the shipped rule packs (ambient air,
wastewater B, noise, sensor health), the shipped windows, history on, `series_ttl: 1m` and
1-minute summaries, then publishes with `parksim --churn 1m`: every minute each of --sensors
sensors takes a new name and the old names fall silent. Samples parkd's RSS (/proc) and its
live series count (/metrics) every 10 s, and prints the RSS slope after the warm-up beside the
live series range: least squares over each minute's lowest sample past --warmup minutes (each
minute's summary and history batch lift RSS for a moment; the lowest sample is what stays).

  churn-soak.py --parkd PATH --parksim PATH [--minutes 10] [--warmup 2] [--sensors 2000]

Everything is on 127.0.0.1; the run is bounded by --minutes.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from loopback import free_port, mosquitto, stop




def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def series(port):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        m = re.search(r"^parkd_series_count (\S+)", body, re.M)
        return int(float(m.group(1))) if m else None
    except OSError:
        return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--parkd", required=True)
    p.add_argument("--parksim", required=True)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--sensors", type=int, default=2000)
    p.add_argument("--label", default="")
    a = p.parse_args()
    a.parkd, a.parksim = os.path.abspath(a.parkd), os.path.abspath(a.parksim)
    rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Deploy", "rules")
    packs = ["qcvn05-2023-ambient-air.yaml", "qcvn40-2011-wastewater-b.yaml", "qcvn26-2010-noise.yaml",
             "sensor-health.yaml"]

    work = tempfile.mkdtemp(prefix="churn-soak-")
    procs = []
    try:
        mqtt, http = free_port(), free_port()
        procs.append(mosquitto(work, mqtt))
        rule_files = "".join(f"  - {os.path.abspath(os.path.join(rules, name))}\n" for name in packs)
        with open(f"{work}/parkd.yaml", "w") as f:
            f.write(f"""broker: {{url: "mqtt://127.0.0.1:{mqtt}", client_id: parkd-soak}}
http: {{listen: "127.0.0.1:{http}"}}
state_dir: state
summaries: {{path: summaries.jsonl, intervals: [1m]}}
parks: {{"*": {{wastewater: {{zone: "*", kq: 1, kf: 1}}, zones: {{"*": ordinary}}}}}}
limits: {{series_ttl: 1m, max_series: 100000, max_series_per_park: 100000, max_new_series_per_message: 100}}
windows:
  - {{name: 1m, length: 1m, bucket: 15s}}
  - {{name: 15m, length: 15m, bucket: 5m}}
  - {{name: 1h, length: 1h, bucket: 15m}}
  - {{name: 8h, length: 8h, bucket: 1h}}
  - {{name: 24h, length: 24h, bucket: 1h}}
rule_files:
{rule_files}""")
        log = open(f"{work}/parkd.log", "w")
        parkd = subprocess.Popen([a.parkd, "run", "--config", f"{work}/parkd.yaml"], stdout=log,
                                 stderr=subprocess.STDOUT, cwd=work)
        procs.append(parkd)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and series(http) is None:
            time.sleep(0.2)
        # Each sensor reports about every 20 s, so every name of a generation is seen.
        rate = max(1, a.sensors // 20)
        sim = subprocess.Popen([a.parksim, "run", "--url", f"mqtt://127.0.0.1:{mqtt}", "--qos", "0", "--rate",
                                str(rate), "--sensors", str(a.sensors), "--churn", "1m", "--client-id", "soak-sim"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(sim)
        started = time.monotonic()
        samples = []
        while time.monotonic() - started < a.minutes * 60:
            time.sleep(10)
            if parkd.poll() is not None:
                break
            minute = (time.monotonic() - started) / 60
            samples.append((minute, rss_mib(parkd.pid), series(http)))
        lowest = {}
        for m, r, _ in samples:
            if m >= a.warmup and r is not None:
                minute = int(m)
                lowest[minute] = min(lowest.get(minute, r), r)
        counts = {}
        for m, r, _ in samples:
            if m >= a.warmup and r is not None:
                counts[int(m)] = counts.get(int(m), 0) + 1
        # Whole minutes only: a last minute with one sample is its boundary's peak, not a trough.
        late = sorted((k, v) for k, v in lowest.items() if counts[k] >= 3)
        slope = 0.0
        if len(late) >= 2:
            mx = sum(m for m, _ in late) / len(late)
            my = sum(r for _, r in late) / len(late)
            sxx = sum((m - mx) ** 2 for m, _ in late)
            slope = sum((m - mx) * (r - my) for m, r in late) / sxx if sxx else 0.0
        live = [s for m, _, s in samples if m >= a.warmup and s is not None]
        label = f" {a.label}" if a.label else ""
        first = next(((m, r) for m, r in late), (0, 0))
        print(f"churn-soak{label}: {a.sensors} new sensor names a minute for {a.minutes:.0f} min, "
              f"{rate} msg/s, series_ttl 1m, the four shipped packs")
        peak = max((r for _, r, _ in samples if r is not None), default=0)
        print(f"  RSS (each minute's lowest) {first[1]:.0f} MiB in minute {first[0]}, {late[-1][1] if late else 0:.0f} MiB in "
              f"minute {late[-1][0] if late else 0}; slope after minute {a.warmup:g}: {slope:+.2f} MiB/min; peak {peak:.0f} MiB; "
              f"live series {min(live) if live else '?'}"
              f"-{max(live) if live else '?'}; parkd " + ("running" if parkd.poll() is None else "DIED"))
        print("  samples (minute, MiB, series): " +
              " ".join(f"{m:.1f}:{r:.0f}:{s}" for m, r, s in samples if r is not None))
        sys.stdout.flush()
        return 0 if parkd.poll() is None else 1
    finally:
        stop(procs, work, timeout=20)


if __name__ == "__main__":
    sys.exit(main())
