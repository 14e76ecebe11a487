#!/usr/bin/env bash
# Correlation benchmark (issue 5): `trailflow correlate` (whole process) on a generated lake of
# about 20 million flow records, against DuckDB running a naive join of the same changes and
# flows over its own Parquet (accepted flows in the 24 hours after each change from peers not
# seen in the 24 hours before), same machine. Reports time, peak memory and the precision of
# each against the planted ground truth.
#
#   benches/correlate.sh               # WEB=37000: about 20 million flow records
#   WEB=3700 benches/correlate.sh      # about 2 million
#   SIZE=large SHAPE=real benches/correlate.sh   # the real file count's large set (20.5 million
#                                                # flows in 4,836 files, 1 million events)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SHAPE:-}" = real ]; then
  . benches/common.sh
  make_data
  data="$DATA"
  lake="$WORK/corr-lake-real-$WEB"
  duck="$WORK/corr-duck-real-$WEB"
else
  WEB=${WEB:-37000}
  CT=${CT:-160}
  . benches/common.sh
  data="$WORK/corr-data-$WEB"
  lake="$WORK/corr-lake-$WEB"
  duck="$WORK/corr-duck-$WEB"
fi
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
if [ ! -f "$data/ground-truth.json" ]; then
  rm -rf "$data"
  target/release/trailflow-gen --out "$data" --web-clients "$WEB" --ct-noise "$CT" >/dev/null
fi
[ -d "$lake/flow_logs" ] || target/release/trailflow ingest "$data" --lake "$lake" --quiet --no-index >/dev/null
[ -f "$duck/flow_logs.parquet" ] || python3 benches/duckdb_ingest.py "$data" "$duck" >/dev/null
flows=$(target/release/trailflow sql --lake "$lake" --format csv "SELECT count(*) FROM flow_logs" | tail -1)
echo "== $flows flow records ($data)"
python3 benches/correlate_bench.py target/release/trailflow "$lake" "$duck" "$data/ground-truth.json" "${RUNS:-2}"
