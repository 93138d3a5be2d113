#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target for FUZZ_SECONDS (default 20 s each, about 3 minutes in
# all) from the checked-in corpus in Tests/Fuzz/<target>/. New coverage goes to a working corpus
# under .build-fuzz/corpus/; an input that crashes, hangs (over 10 s) or runs out of memory is
# copied into Tests/Fuzz/<target>/crash-<sha1>, where `make test` replays it from then on.
# Prints executions and crashes per target; exits 1 if anything crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-${FUZZ_SECONDS:-20}}"
BIN="${FUZZ_BIN:-.build-fuzz/release/parkfuzz}"
TARGETS="${FUZZ_TARGETS:-json number senml line lorawan feed topic config pipeline uplink sparkplug snapshot}"
[ -x "$BIN" ] || { echo "no $BIN: run 'make fuzz'" >&2; exit 2; }
total_execs=0; total_crashes=0
printf '%-10s %12s %8s %8s\n' target executions crashes corpus
for target in $TARGETS; do
  work=".build-fuzz/corpus/$target"; crashes=".build-fuzz/crashes/$target"
  mkdir -p "$work" "$crashes"
  log=".build-fuzz/$target.log"
  "$BIN" "$target" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "Tests/Fuzz/$target" > "$log" 2>&1
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  found=0
  for artifact in "$crashes"/*; do
    [ -f "$artifact" ] || continue
    sum=$(sha1sum "$artifact" | cut -c1-16)
    cp "$artifact" "Tests/Fuzz/$target/crash-$sum"
    echo "  CRASH in $target: kept as Tests/Fuzz/$target/crash-$sum (log: $log)" >&2
    rm -f "$artifact"; found=$((found + 1))
  done
  printf '%-10s %12s %8s %8s\n' "$target" "${execs:-?}" "$found" "$(ls "$work" | wc -l)"
  total_execs=$((total_execs + ${execs:-0})); total_crashes=$((total_crashes + found))
done
printf '%-10s %12s %8s\n' total "$total_execs" "$total_crashes"
[ "$total_crashes" -eq 0 ]
