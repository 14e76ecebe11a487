#!/usr/bin/env bash
# Search benchmark (issue 4): needle lookups with `trailflow search` (whole process) against DuckDB
# `LIKE` over its own Parquet of the same events, on lakes of about 150,000 and 1,000,000
# CloudTrail events. Also reports the index size against the CloudTrail Parquet size, and the
# ingest time with and without the index.
#
#   benches/search.sh                   # both sizes
#   SIZES=1600 RUNS=3 benches/search.sh  # only the smaller one
#   INGEST_RUNS=4 benches/search.sh      # ingest timed best of 4 (alternating with and without)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
SIZES=${SIZES:-"1600 10500"}
RUNS=${RUNS:-5}
INGEST_RUNS=${INGEST_RUNS:-2}

secs() { # command...: wall seconds
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}'
}

for ct in $SIZES; do
  data="$WORK/search-data-$ct"
  if [ ! -f "$data/ground-truth.json" ]; then
    rm -rf "$data"
    target/release/trailflow-gen --out "$data" --web-clients 100 --ct-noise "$ct" >/dev/null
  fi
  lake="$WORK/search-lake-$ct"
  duck="$WORK/search-duck-$ct"
  # Ingest with and without the index, alternately, best of INGEST_RUNS each.
  t_plain=; t_index=
  for _ in $(seq "$INGEST_RUNS"); do
    rm -rf "$lake"
    t=$(secs target/release/trailflow ingest "$data" --lake "$lake" --quiet --no-index)
    t_plain=$(awk -v a="$t" -v b="${t_plain:-$t}" 'BEGIN{print (a < b) ? a : b}')
    rm -rf "$lake"
    t=$(secs target/release/trailflow ingest "$data" --lake "$lake" --quiet)
    t_index=$(awk -v a="$t" -v b="${t_index:-$t}" 'BEGIN{print (a < b) ? a : b}')
  done
  [ -f "$duck/cloudtrail.parquet" ] || python3 benches/duckdb_ingest.py "$data" "$duck" >/dev/null
  events=$(target/release/trailflow sql --lake "$lake" --format csv "SELECT count(*) FROM cloudtrail" | tail -1)
  idx=$(du -sb "$lake/index" | cut -f1)
  pq=$(du -sb "$lake/cloudtrail" | cut -f1)
  echo "== $events CloudTrail events ($data)"
  echo "ingest: $t_plain s without the index, $t_index s with it (+$(awk -v a="$t_plain" -v b="$t_index" 'BEGIN{printf "%.0f", (b-a)/a*100}')%)"
  echo "index: $((idx / 1024)) KiB, CloudTrail Parquet: $((pq / 1024)) KiB (ratio $(awk -v a="$idx" -v b="$pq" 'BEGIN{printf "%.2f", a/b}'))"
  python3 benches/search_bench.py target/release/trailflow "$lake" "$duck" "$RUNS"
done
