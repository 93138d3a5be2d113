#!/usr/bin/env python3
"""parkd's HTTP endpoint under abuse, beside its ingest.

Starts mosquitto and the given parkd on loopback, publishes a steady feed with parksim, and
meanwhile runs keep-alive clients hammering the status page and the API and slow clients
that send half a request and hold the connection. A prober opens a fresh connection for
/healthz every half second, on the main listener and on the probe listener when there is
one, as a monitoring system would. Prints the worst probe times, the largest ingest backlog
(messages published and not yet taken in by parkd), and how long parkd took to catch up.

  http-abuse.py --parkd PATH --parksim PATH [--seconds 20] [--rate 2000]
                [--keepalive 200] [--slow 200] [--probes]

Everything is on 127.0.0.1, and every loop is bounded by --seconds (plus a drain of 60 s).
Exit status 0 when parkd stayed up and took in every message.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from loopback import free_port, mosquitto, stop




def get(port, path, timeout):
    """One request on a fresh connection: (status, body, seconds), or (None, error, seconds)."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.01, timeout - (time.monotonic() - started)))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head else None
        return status, body.decode("utf-8", "replace"), time.monotonic() - started
    except OSError as error:
        return None, str(error), time.monotonic() - started


class Abuse:
    def __init__(self, port, keepalive, slow, until):
        self.port, self.until = port, until
        self.requests = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.hammer, args=(i,), daemon=True) for i in range(keepalive)]
        self.threads += [threading.Thread(target=self.hold, daemon=True) for _ in range(slow)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def hammer(self, index):
        paths = ["/", "/api/alerts", "/api/compliance", "/?part=body", "/api/summary"]
        while time.monotonic() < self.until:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    reader = s.makefile("rb")
                    k = index
                    while time.monotonic() < self.until:
                        path = paths[k % len(paths)]
                        k += 1
                        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                        length = None
                        while True:
                            line = reader.readline()
                            if not line:
                                raise OSError("closed")
                            if line in (b"\r\n", b"\n"):
                                break
                            if line.lower().startswith(b"content-length:"):
                                length = int(line.split(b":")[1])
                        if length is None:
                            raise OSError("no length")
                        reader.read(length)
                        with self.lock:
                            self.requests += 1
            except OSError:
                time.sleep(0.05)

    def hold(self):
        while time.monotonic() < self.until:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    while time.monotonic() < self.until:
                        s.settimeout(1)
                        try:
                            if not s.recv(1024):
                                break
                        except socket.timeout:
                            pass
            except OSError:
                time.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--parkd", required=True)
    p.add_argument("--parksim", required=True)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rate", type=int, default=2000)
    p.add_argument("--keepalive", type=int, default=200)
    p.add_argument("--slow", type=int, default=200)
    p.add_argument("--probes", action="store_true", help="give parkd a probe listener (http.probes)")
    p.add_argument("--label", default="")
    a = p.parse_args()
    a.parkd, a.parksim = os.path.abspath(a.parkd), os.path.abspath(a.parksim)

    work = tempfile.mkdtemp(prefix="http-abuse-")
    procs = []
    try:
        mqtt, http, probe = free_port(), free_port(), free_port()
        procs.append(mosquitto(work, mqtt))
        listen = f"{{listen: 127.0.0.1:{http}" + (f", probes: 127.0.0.1:{probe}}}" if a.probes else "}")
        with open(f"{work}/parkd.yaml", "w") as f:
            f.write(f"broker: {{url: mqtt://127.0.0.1:{mqtt}, client_id: parkd-abuse}}\n"
                    f"http: {listen}\nsummaries: {{path: summaries.jsonl, intervals: [1s]}}\n")
        log = open(f"{work}/parkd.log", "w")
        procs.append(subprocess.Popen([a.parkd, "run", "--config", f"{work}/parkd.yaml"], stdout=log,
                                      stderr=subprocess.STDOUT, cwd=work))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and get(http, "/healthz", 1)[0] != 200:
            time.sleep(0.1)

        def taken_in():
            # The summary lines, one a second: readings parkd accepted, read from its file so
            # that the measure does not depend on the endpoint under abuse.
            total = 0
            try:
                with open(f"{work}/summaries.jsonl") as f:
                    for line in f:
                        try:
                            total += json.loads(line).get("accepted", 0)
                        except ValueError:
                            pass
            except OSError:
                return None
            return total

        count = int(a.rate * a.seconds)
        until = time.monotonic() + a.seconds + 2
        abuse = Abuse(http, a.keepalive, a.slow, until)
        abuse.start()
        time.sleep(1)
        started = time.monotonic()
        sim = subprocess.Popen([a.parksim, "run", "--url", f"mqtt://127.0.0.1:{mqtt}", "--qos", "0", "--rate",
                                str(a.rate), "--count", str(count), "--client-id", "abuse-sim"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(sim)
        worst = {"main": 0.0, "probe": 0.0}
        failed = {"main": 0, "probe": 0}
        probes = {"main": 0, "probe": 0}

        def prober(name, port):
            # A monitoring probe: a fresh connection every half second, 5 s to answer.
            while time.monotonic() < until:
                status, _, seconds = get(port, "/healthz", 5)
                worst[name] = max(worst[name], seconds)
                probes[name] += 1
                if status != 200:
                    failed[name] += 1
                time.sleep(max(0.0, 0.5 - seconds))

        for name, port in (("main", http), ("probe", probe)) if a.probes else (("main", http),):
            threading.Thread(target=prober, args=(name, port), daemon=True).start()
        backlog, backlog_seconds = 0, 0.0
        while time.monotonic() < until:
            got = taken_in()
            elapsed = time.monotonic() - started
            if got is not None:
                published = min(count, int(elapsed * a.rate))
                behind = max(0, published - got)
                if behind > backlog:
                    backlog, backlog_seconds = behind, behind / a.rate
            time.sleep(0.25)
        sim.wait(timeout=60)
        drain_deadline = time.monotonic() + 60
        got = taken_in()
        while (got or 0) < count and time.monotonic() < drain_deadline:
            time.sleep(0.2)
            got = taken_in()
        caught_up = time.monotonic() - until
        alive = procs[1].poll() is None
        label = f" {a.label}" if a.label else ""
        print(f"http-abuse{label}: {a.keepalive} keep-alive + {a.slow} slow clients for {a.seconds:.0f} s, "
              f"{abuse.requests / (a.seconds + 1):.0f} req/s served; feed {a.rate} msg/s ({count})")
        print(f"  /healthz worst: main listener {worst['main']:.2f} s ({failed['main']} of {probes['main']} failed or timed out at 5 s)"
              + (f", probe listener {worst['probe']:.3f} s ({failed['probe']} of {probes['probe']} failed)" if a.probes else ""))
        print(f"  ingest backlog at most {backlog} messages ({backlog_seconds:.1f} s of feed, summaries' 1 s included); "
              f"{got}/{count} taken in, caught up {max(0.0, caught_up):.1f} s after the abuse ended; parkd "
              + ("running" if alive else "DIED"))
        print(json.dumps({"worst_main": worst["main"], "worst_probe": worst["probe"], "failed_main": failed["main"],
                          "failed_probe": failed["probe"], "backlog": backlog, "taken": got, "count": count,
                          "alive": alive, "requests": abuse.requests}))
        sys.stdout.flush()
        return 0 if alive and got == count else 1
    finally:
        stop(procs, work, timeout=15)


if __name__ == "__main__":
    sys.exit(main())
