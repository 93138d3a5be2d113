#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 20) on the current build, to catch
# flaky tests: prints one line per run and the count of green runs; exits 1 if any failed.
# Usage: scripts/repeat-tests.sh [N]   (after `swift build --build-tests`)
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"; green=0
for i in $(seq "$runs"); do
  log="/tmp/parktelemetry-repeat-$i.log"
  start=$(date +%s)
  if swift test --skip-build > "$log" 2>&1; then
    green=$((green + 1)); result="green"
    rm -f "$log"
  else
    result="FAILED (log: $log)"
  fi
  scripts/reap-test-brokers.sh >/dev/null 2>&1 || true
  echo "run $i/$runs: $result in $(( $(date +%s) - start ))s"
done
echo "$green of $runs runs green"
[ "$green" -eq "$runs" ]
