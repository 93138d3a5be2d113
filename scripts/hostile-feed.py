#!/usr/bin/env python3
"""Writes a feed of good readings interleaved with every hostile input the input-hardening
work covers, and a parkd configuration with the rule packs to replay it with:

    scripts/hostile-feed.py DIR [N]     # N messages (default 20000), into DIR/feed.jsonl
    parkd replay DIR/feed.jsonl -c DIR/parkd.yaml

A parkd that survives prints its counts and exits 0; one that traps exits with a signal."""
import json, os, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "parkd.yaml"), "w") as f:
    f.write(f"""broker: {{url: "mqtt://127.0.0.1:1"}}
topics:
  - {{pattern: "parks/{{park}}/{{zone}}/{{pillar}}/{{kind}}/{{sensor}}"}}
  - {{pattern: "senml/{{park}}/{{zone}}/{{pillar}}/{{kind}}/{{sensor}}", format: senml}}
  - {{pattern: "influx/{{park}}/{{zone}}/{{pillar}}/{{kind}}/{{sensor}}", format: line}}
  - {{pattern: "application/+/device/{{sensor}}/event/up", fixed: {{park: p, zone: lora, pillar: green, kind: lorawan}}, format: chirpstack}}
  - {{pattern: "v3/+/devices/{{sensor}}/up", fixed: {{park: p, zone: lora, pillar: green, kind: lorawan}}, format: tts}}
payload: {{max_bytes: 131072}}
windows:
  - {{name: 1m, length: 1m, bucket: 15s}}
  - {{name: 15m, length: 15m, bucket: 5m}}
  - {{name: 1h, length: 1h, bucket: 15m}}
  - {{name: 8h, length: 8h, bucket: 1h}}
  - {{name: 24h, length: 24h, bucket: 1h}}
rule_files: [{", ".join(f'"{root}/Deploy/rules/{r}.yaml"' for r in ["qcvn05-2023-ambient-air", "qcvn26-2010-noise", "sensor-health", "energy"])}]
parks: {{"*": {{zones: {{"*": ordinary}}}}}}
summaries: {{path: "{out}/summaries.jsonl", intervals: [1m, 1h]}}
alerts: {{path: "{out}/alerts.jsonl"}}
state_dir: "{out}/state"
""")
hostile = [
    ("senml/p/z/emissions/pm25/s1", '[{"bn":"d:","bt":1.7e18,"n":"pm25","v":41}]'),
    ("senml/p/z/emissions/pm25/s1", '[{"n":"s1","t":-1e300,"v":1}]'),
    ("senml/p/z/emissions/pm25/s1", '[{"n":"s1","bt":1e999,"v":1}]'),
    ("senml/p/z/emissions/pm25/s2", '[{"bn":"a","bt":9.2e15,"v":1},{"n":"b","t":-1.8e16,"v":2}]'),
    ("senml/p/z/emissions/pm25/s3", '[{"bn":"a","bt":9.2e15,"v":1}]'),
    ("senml/p/z/emissions/pm25/s3", '[{"bn":"a","bt":-9.2e15,"v":1}]'),
    ("application/a/device/d1/event/up", '{"object":{"temperature":1e999}}'),
    ("v3/a/devices/d1/up", '{"uplink_message":{"decoded_payload":{"t":-1e999}}}'),
    ("influx/p/z/energy/active_power/m1", "power value=1 -9223372036854775808"),
    ("parks/p/z/emissions/pm25/a1", '{"value":20,"ts":"2100-01-01T00:00:00Z"}'),
    ("parks/p/z/emissions/pm25/a2", '{"value":20,"ts":"1900-01-01T00:00:00Z"}'),
    ("parks/p/z/emissions/pm25/a3", '{"value":20,"status":"ok\\nFAKE: all clear"}'),
    ("parks/p/z/emissions/multi/m1", "{" + ",".join(f'"k{i}":{i}' for i in range(6000)) + "}"),
    ("senml/p/z/emissions/pm25/s4", '[{"n":"pm25","v":1,"x_":2}]'),
]
t0 = 1795400000.0
with open(os.path.join(out, "feed.jsonl"), "w") as f:
    for i in range(n):
        t = t0 + i * 0.5
        if i % 10 == 0:
            topic, payload = hostile[(i // 10) % len(hostile)]
        else:
            topic, payload = f"parks/p/z/emissions/pm25/g{i % 50}", json.dumps({"value": 10 + i % 13, "seq": i})
        f.write(json.dumps({"t": t, "topic": topic, "payload": payload}) + "\n")
print(f"{out}/feed.jsonl: {n} messages, {n // 10} hostile; replay with: parkd replay {out}/feed.jsonl -c {out}/parkd.yaml")
