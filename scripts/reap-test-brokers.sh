#!/usr/bin/env bash
# Stops brokers, and parkd or parksim processes, left behind by a test run that was killed (or
# crashed) before it could stop them; only those started from the tests' scratch folders.
pkill -f 'mosquitto -c /tmp/parktelemetry-broker-' 2>/dev/null || true
pkill -f 'parkd run --config /tmp/parktelemetry-' 2>/dev/null || true
pkill -f 'parksim run .*/tmp/parktelemetry-' 2>/dev/null || true
pkill -f 'parkd-central --config /tmp/parktelemetry-' 2>/dev/null || true
pkill -f 'nats-server -c /tmp/parktelemetry-nats-' 2>/dev/null || true
for d in /tmp/parktelemetry-pg-*/data; do
  [ -f "$d/postmaster.pid" ] && kill -9 "$(head -1 "$d/postmaster.pid")" 2>/dev/null
done
exit 0
