#!/usr/bin/env bash
# make demo: a loopback mosquitto, parkd on Deploy/config/demo.yaml, parksim traffic with a
# few broken messages, then the summary lines parkd wrote. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(swift build -c release --show-bin-path)"
RUN=/tmp/parktelemetry-demo
rm -rf "$RUN" && mkdir -p "$RUN"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A second listener stands for the province's broker, which the uplink sends to.
UPLINK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$RUN/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
listener $UPLINK_PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest file $RUN/mosquitto.log
CONF
[ "$(id -u)" -eq 0 ] && echo "user root" >> "$RUN/mosquitto.conf"

pids=()
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
AS=(); [ "$(id -u)" -eq 0 ] && AS=(runuser -u postgres --)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -f "$RUN/pg/data/postmaster.pid" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$RUN/pg/data" -m immediate stop > /dev/null 2>&1 || true
}
trap cleanup EXIT

echo "==> mosquitto on 127.0.0.1:$PORT"
mosquitto -c "$RUN/mosquitto.conf" 2>> "$RUN/mosquitto.log" & pids+=($!)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# The province side: PostgreSQL in a temporary folder and `parkd-central` on the uplink.
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "==> PostgreSQL on 127.0.0.1:$PG_PORT and parkd-central (shard s1; log: $RUN/central.log)"
mkdir -p "$RUN/pg"; [ "$(id -u)" -eq 0 ] && chown postgres "$RUN/pg"
"${AS[@]}" "$PGBIN/initdb" -D "$RUN/pg/data" -A trust -U parkd -E UTF8 --no-sync > "$RUN/pg/initdb.log" 2>&1
printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" "$PG_PORT" "$RUN/pg" \
  >> "$RUN/pg/data/postgresql.auto.conf"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$RUN/pg/data" -l "$RUN/pg/server.log" -w start > /dev/null
PSQL=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U parkd)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE province"
CENTRAL_HTTP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$RUN/central.yaml" <<CONF
broker: {url: mqtt://127.0.0.1:$UPLINK_PORT, client_id: central}
shards: [s1]
postgres: "host=127.0.0.1 port=$PG_PORT dbname=province user=parkd"
http: {listen: "127.0.0.1:$CENTRAL_HTTP"}
CONF
"$BIN/parkd-central" --config "$RUN/central.yaml" 2> "$RUN/central.log" & pids+=($!)

# The authority's FTP server: Debian's pure-ftpd on loopback, one virtual user.
FTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$RUN/ftp/home" && chown 65534:65534 "$RUN/ftp/home"
export DEMO_FTP_PASSWORD="demo-$RANDOM$RANDOM"
printf '%s\n%s\n' "$DEMO_FTP_PASSWORD" "$DEMO_FTP_PASSWORD" | pure-pw useradd demo -u 65534 -g 65534 \
  -d "$RUN/ftp/home" -f "$RUN/ftp/passwd" -m -F "$RUN/ftp/users.pdb" > /dev/null
pure-ftpd -S "127.0.0.1,$FTP_PORT" -l "puredb:$RUN/ftp/users.pdb" -E -A -j -u 1 -P 127.0.0.1 \
  -p "$((FTP_PORT < 60000 ? FTP_PORT + 1 : FTP_PORT - 40)):$((FTP_PORT < 60000 ? FTP_PORT + 40 : FTP_PORT - 1))" \
  > "$RUN/ftp/server.log" 2>&1 & pids+=($!)
echo "==> pure-ftpd on 127.0.0.1:$FTP_PORT, standing for the environment authority's feed server"

# The demo configuration plus the feed's upload and an uplink to the province (the rule packs
# from the tree).
sed "s#\.\./rules/#$PWD/Deploy/rules/#" Deploy/config/demo.yaml > "$RUN/parkd.yaml"
cat >> "$RUN/parkd.yaml" <<CONF
  upload: {url: "ftp://127.0.0.1:$FTP_PORT/", username: demo, password_env: DEMO_FTP_PASSWORD, retry: 2s}
uplink:
  broker: {url: mqtt://127.0.0.1:$UPLINK_PORT}
  shard: s1
CONF
echo "==> parkd run --config Deploy/config/demo.yaml, with an uplink to shard s1 (log: $RUN/parkd.log)"
"$BIN/parkd" check-config "$RUN/parkd.yaml" > /dev/null
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/parkd" run --config "$RUN/parkd.yaml" --broker "mqtt://127.0.0.1:$PORT" --http "127.0.0.1:$HTTP_PORT" --no-stdout 2> "$RUN/parkd.log" &
PARKD=$!; pids+=($PARKD)
for _ in $(seq 50); do grep -q "connected to" "$RUN/parkd.log" && break; sleep 0.1; done

echo "==> parksim: the demo scenario (31 sensors, six payload formats, every fault), 40 simulated minutes at 300x"
"$BIN/parksim" run --scenario Simulators/scenarios/demo.yaml --url "mqtt://127.0.0.1:$PORT" \
  --speed 300 --duration 40m --ground-truth "$RUN/faults.jsonl"
mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t "parks/bau-bang/stray-topic" -m '{"value": 1}'
echo "    faults parksim injected: $(cut -d'"' -f4 "$RUN/faults.jsonl" | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')"
# A message cut in half that is also sent twice is two malformed deliveries: say how many, so
# that parkd's malformed count below adds up.
python3 - "$RUN/faults.jsonl" <<'PY'
import json, sys
faults = [json.loads(line) for line in open(sys.argv[1])]
cut = {(f["sensor"], f["from"]) for f in faults if f["fault"] == "malformed"}
twice = sum(1 for f in faults if f["fault"] == "duplicate" and (f["sensor"], f["from"]) in cut)
if twice:
    print(f"    of the malformed messages, {twice} also sent twice: parkd sees {len(cut) + twice} malformed deliveries")
PY

echo "==> parksim sparkplug: a Sparkplug B edge node with two meters (births, data by alias, one lost DATA, death by its will)"
"$BIN/parksim" sparkplug --url "mqtt://127.0.0.1:$PORT" --group plant-a --nodes 1 --devices 2 --rounds 20 \
  --interval 100ms --linger 2s --fault seq_gap --gap-round 5 --ground-truth "$RUN/sparkplug-truth.jsonl"
sleep 1
echo "==> parkd's HTTP endpoint on 127.0.0.1:$HTTP_PORT:"
python3 - "$HTTP_PORT" <<'PY'
import sys, urllib.request
port = sys.argv[1]
try:
    print("    /healthz ->", urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read().decode().strip())
except Exception as error:
    print("    /healthz ->", error)
metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
for line in metrics.splitlines():
    if line.startswith(("parkd_messages_total", "parkd_series_count", "parkd_alerts_firing_count", 'parkd_rejected_total{reason="malformed"}', "parkd_history_rows_total", "parkd_uplink_sent_items_total", "parkd_uplink_outbox_depth_items")):
        print("    /metrics ->", line)
page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
tiles = page.count('class="tile')
sensors = page.count('class="sensor"')
print(f"    /        -> the status page ({len(page)} bytes, {tiles} tiles, {sensors} sensors with sparklines)")
import json
sensors = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/sensors", timeout=5).read().decode()
samples = [l for l in sensors.splitlines() if l and not l.startswith("#")]
print(f"    /metrics/sensors -> {len(samples)} samples for Prometheus, e.g.:")
for prefix in ("parkd_sensor_micrograms_per_cubic_meter{", "parkd_sensor_window_mean_micrograms_per_cubic_meter{", "parkd_compliance_exceeded{", "parkd_alerts{"):
    first = next((l for l in samples if l.startswith(prefix)), None)
    if first:
        print("                        " + first)
sp = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sparkplug", timeout=5).read().decode())
events = ", ".join(f"{k} {v}" for k, v in sp["events"].items())
print(f"    /api/sparkplug -> nodes online {sp['nodes_online']}, offline {sp['nodes_offline']}; {len(sp['offline'])} series stale since the node's NDEATH")
print(f"                      events: {events}")
print(f"                      skipped: " + ", ".join(f"{k} {v}" for k, v in sp["skipped"].items()))
PY
# Screenshot of the status page with Debian's headless Chromium, when it is installed.
if command -v chromium > /dev/null; then
  chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$RUN/chromium" \
    --window-size=1100,900 --virtual-time-budget=2000 --screenshot="$RUN/status-page.png" \
    "http://127.0.0.1:$HTTP_PORT/" > /dev/null 2>&1 && echo "    screenshot of the page: $RUN/status-page.png"
fi
echo "==> the regulator feed: outlet NT01's 5-minute files on the authority's FTP server"
for _ in $(seq 30); do [ -z "$(find "$RUN/feed/pending" -name '*.txt' 2>/dev/null | head -1)" ] && break; sleep 0.5; done
FILES=$(cd "$RUN/ftp/home" && find . -name '*.txt' | sort)
echo "    $(echo "$FILES" | grep -c txt) files uploaded, $(find "$RUN/feed/pending" -name '*.txt' 2>/dev/null | wc -l) still pending; the first three:"
echo "$FILES" | head -3 | sed 's#^\./#    #'
ONE=$(echo "$FILES" | sed -n 2p | sed "s#^\./##")
if [ -n "$ONE" ]; then
  echo "    $ONE (tab-separated: code, cycle mean, unit, time, status 00 measuring / 01 calibrating / 02 error or no data):"
  sed 's/\r$//; s/\t/  /g; s/^/      /' "$RUN/ftp/home/$ONE"
fi
echo "==> SIGTERM to parkd: it writes the last partial interval and exits"
kill -TERM "$PARKD"; wait "$PARKD"; echo "    parkd exited with status $?"

echo
echo "==> the province's database: what the uplink delivered to parkd-central, once each"
sleep 2
"${PSQL[@]}" -d province -c "SELECT 'rollups' AS rows, count(*), coalesce(sum(count), 0) AS readings FROM rollups
  UNION ALL SELECT 'compliance', count(*), NULL FROM compliance UNION ALL SELECT 'alerts', count(*), NULL FROM alerts
  UNION ALL SELECT 'summaries', count(*), NULL FROM summaries" | sed 's/^/    /'
"${PSQL[@]}" -d province -c "SELECT series, at, count, round(mean::numeric, 2) AS mean FROM rollups
  WHERE series LIKE '%/pm25/%' ORDER BY at DESC, series LIMIT 3" | sed 's/^/    /'
echo "    outbox left on the gateway: $(sqlite3 "$RUN/state/history.sqlite" 'SELECT count(*) FROM outbox') items"
python3 - "$CENTRAL_HTTP" <<'PY'
import sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for line in urllib.request.urlopen(base + "/metrics", timeout=5).read().decode().splitlines():
    if not line.startswith("#"):
        print("    parkd-central /metrics ->", line)
print("    parkd-central /healthz ->", urllib.request.urlopen(base + "/healthz", timeout=5).read().decode().strip())
PY

echo
echo "==> history on the gateway ($RUN/state/history.sqlite): parkd query and the daily report"
DAY=$(TZ=Asia/Ho_Chi_Minh date +%F)
"$BIN/parkd" query 'bau-bang/*/emissions/pm25' --config Deploy/config/demo.yaml --from 1h --format csv 2>&1 | head -4 | sed 's/^/    /'
"$BIN/parkd" report --park bau-bang --day "$DAY" --config Deploy/config/demo.yaml --out "$RUN/reports" 2>&1 | sed 's/^/    /'

echo
echo "==> rejected input, as parkd logged it (rate-limited):"
grep "rejected message" "$RUN/parkd.log" | head -4 | sed 's/^/    /'
echo
echo "==> alerts ($RUN/alerts.log; JSON Lines in $RUN/alerts.jsonl):"
if [ -s "$RUN/alerts.log" ]; then sed 's/^/    /' "$RUN/alerts.log" | head -20; else echo "    (none)"; fi
echo
echo "==> compliance records ($RUN/compliance.jsonl): regulatory limits on completed clock hours:"
if [ -s "$RUN/compliance.jsonl" ]; then
  python3 - "$RUN/compliance.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]).read().splitlines()[-8:]:
    r = json.loads(line)
    value = "-" if r["value"] is None else f'{r["value"]:.1f}'
    limit = r.get("limit", r.get("lower_limit"))
    print(f'    {r["from"][11:16]}-{r["to"][11:16]} {r["rule"]:<22} {r["sensor"]:<10} {r["stat"]} {value:>7} limit {limit:g}'
          f'  capture {r["capture"]:.2f}{"  EXCEEDED" if r["exceeded"] else ""}{"" if r["valid"] else "  (not valid: too little data)"}')
PY
else
  echo "    (none: no clock hour of a regulated station completed during the demo's run)"
fi
echo
echo "==> summary lines ($RUN/summaries.jsonl), one per 5 s interval:"
python3 - "$RUN/summaries.jsonl" "$RUN/series.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
total = {"messages": 0, "readings": 0}
for s in lines:
    bad = {k: v for k, v in s["rejected"].items() if v}
    quality = {k: v for k, v in s["quality"].items() if v}
    print(f'    {s["from"][11:19]}-{s["to"][11:19]}  messages {s["messages"]:5}  accepted {s["accepted"]:5}  '
          f'series {s["series_reporting"]:3}/{s["series_total"]}  rejected {bad or "-"}  quality {quality or "-"}')
    total["messages"] += s["messages"]; total["readings"] += s["accepted"]
print(f'    total: {total["messages"]} messages, {total["readings"]} readings accepted')
busiest = max(lines, key=lambda l: l["messages"])
print(f'\n    per park and pillar, {busiest["from"][11:19]}-{busiest["to"][11:19]}:')
for p in busiest["parks"]:
    q = p["data_quality"]
    figures = {k: round(v, 2) if isinstance(v, float) else v for k, v in p.items()
               if k not in ("park", "pillar", "data_quality", "means")}
    print(f'      {p["park"]}/{p["pillar"]:9} {figures}  sensors {q["reporting_sensors"]}/{q["known_sensors"]} reporting')
print(f'\n    summary lines carry parks, not sensors: {max(len(json.dumps(l)) for l in lines)} bytes at most')
# Per-series detail is its own file (summaries.series_path); the latest line of one PM2.5 sensor.
series = [json.loads(l) for l in open(sys.argv[2])]
s = next((x for x in reversed(series) if x["kind"] == "pm25"), series[-1] if series else None)
if s:
    print(f'\n    rolling windows of {s["park"]}/{s["zone"]}/{s["pillar"]}/{s["kind"]}/{s["sensor"]} at {s.get("last_at", "")[11:23]} ({sys.argv[2]}):')
    for name, w in s["windows"].items():
        if not w["count"]:
            continue
        if "min" in w:
            print(f'      {name:>4}: {w["count"]:4} readings  mean {w["mean"]:8.2f}  min {w["min"]:8.2f}  '
                  f'max {w["max"]:8.2f}  p95 {w.get("p95", float("nan")):8.2f}  std {w["std"]:6.2f}')
        else:
            valid = f'  valid hours {w["valid_hours"]}' if "valid_hours" in w else ""
            print(f'      {name:>4}: {w["count"]:4} readings  mean {w["mean"]:8.2f}  (lean window: count and mean){valid}')
PY
