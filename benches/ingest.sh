#!/usr/bin/env bash
# Ingest benchmark: trailflow against DuckDB converting the same archives to Parquet, side by side
# on the same machine, for both file shapes: AWS's delivery (thousands of small files) and a few
# large files. Prints wall time, peak resident memory, the ratio, and the lake's size against the
# gzip input (Parquet and index apart).
#
#   benches/ingest.sh                    # medium: 2 million flow records, 150,000 CloudTrail events
#   SIZE=large benches/ingest.sh         # large: 20 million and 1 million
#   SHAPES=aws RUNS=1 benches/ingest.sh  # one shape, one run
#   SHAPES=real benches/ingest.sh        # AWS's real file count: about 11,600 files
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
RUNS=${RUNS:-3}

measure() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >"$log.out" 2>"$log"
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  echo "$label $wall $rss"
  tail -1 "$log.out" >&2
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

for SHAPE in ${SHAPES:-aws hourly}; do
  export SHAPE
  . benches/common.sh
  make_data
  gz=$(find "$DATA/AWSLogs" -type f -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s}')
  echo "== $SIZE, $SHAPE: $DATA ($(find "$DATA" -type f | wc -l) files, $(awk -v b="$gz" 'BEGIN{printf "%.0f", b/1048576}') MiB of gzip)"
  D=$(best duckdb "$RUNS" python3 benches/duckdb_ingest.py "$DATA" "$WORK/duck")
  T=$(best trailflow "$RUNS" target/release/trailflow ingest "$DATA" --lake "$WORK/lake" --quiet)
  echo "trailflow: $(echo "$T" | awk '{printf "%.2f s, peak %.0f MiB", $2, $3/1024}')"
  echo "duckdb:    $(echo "$D" | awk '{printf "%.2f s, peak %.0f MiB", $2, $3/1024}')"
  echo "ratio (trailflow / duckdb time): $(awk -v t="$(echo "$T" | awk '{print $2}')" -v d="$(echo "$D" | awk '{print $2}')" 'BEGIN{printf "%.2f", t/d}')"
  size() { du -sb "$@" 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
  parquet=$(( $(size "$WORK/lake") - $(size "$WORK/lake/index") ))
  index=$(size "$WORK/lake/index")
  echo "disk: parquet $(awk -v p="$parquet" -v g="$gz" 'BEGIN{printf "%.0f MiB (%.2f of the gzip input)", p/1048576, p/g}'), index $(awk -v p="$index" -v g="$gz" 'BEGIN{printf "%.0f MiB (%.2f)", p/1048576, p/g}'), duckdb parquet $(awk -v p="$(size "$WORK/duck")" -v g="$gz" 'BEGIN{printf "%.0f MiB (%.2f)", p/1048576, p/g}'); lake $(awk -v p="$((parquet + index))" -v g="$gz" 'BEGIN{printf "%.3f", p/g}') of the gzip input"
done
