#!/usr/bin/env bash
# Ingest benchmark: trailflow against DuckDB converting the same archives to Parquet, on the same
# machine. Prints wall time and peak resident memory of each and the ratio.
#
#   benches/ingest.sh                 # 2 million flow records and 150,000 CloudTrail events
#   WEB=300 CT=160 benches/ingest.sh  # a tenth of that
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
if [ ! -f "$DATA/ground-truth.json" ]; then
  rm -rf "$DATA"
  target/release/trailflow-gen --out "$DATA" --web-clients "$WEB" --ct-noise "$CT" >/dev/null
fi
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
echo "data: $DATA ($(du -sh "$DATA" | cut -f1), $(find "$DATA" -type f | wc -l) files)"

measure() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >"$log.out" 2>"$log"
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  echo "$label $wall $rss"
  cat "$log.out" | tail -1 >&2
  rm -f "$log" "$log.out"
}

best() { # label, runs, command...: the fastest of N runs
  local label=$1 runs=$2; shift 2
  local out="" b=""
  for _ in $(seq "$runs"); do
    [ "$label" = trailflow ] && rm -rf "$WORK/lake"
    [ "$label" = duckdb ] && rm -rf "$WORK/duck"
    local r; r=$(measure "$label" "$@")
    local s; s=$(echo "$r" | awk '{print $2}')
    if [ -z "$b" ] || awk "BEGIN{exit !($s < $b)}"; then b=$s; out=$r; fi
  done
  echo "$out"
}

RUNS=${RUNS:-3}
T=$(best trailflow "$RUNS" target/release/trailflow ingest "$DATA" --lake "$WORK/lake" --quiet)
D=$(best duckdb "$RUNS" python3 benches/duckdb_ingest.py "$DATA" "$WORK/duck")
echo "trailflow: $(echo "$T" | awk '{printf "%.2f s, peak %.0f MiB", $2, $3/1024}')"
echo "duckdb:    $(echo "$D" | awk '{printf "%.2f s, peak %.0f MiB", $2, $3/1024}')"
echo "ratio (trailflow / duckdb time): $(awk -v t="$(echo "$T" | awk '{print $2}')" -v d="$(echo "$D" | awk '{print $2}')" 'BEGIN{printf "%.2f", t/d}')"
