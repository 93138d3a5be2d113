#!/usr/bin/env bash
# Stops brokers left behind by a test run that was killed before it could stop them.
pkill -f 'mosquitto -c /tmp/parktelemetry-broker-' 2>/dev/null || true
exit 0
