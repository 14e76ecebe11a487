#!/usr/bin/env bash
# Query benchmark: trailflow against DuckDB on the lake and Parquet made by benches/ingest.sh
# (run that first; same WEB/CT/WORK settings).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
[ -d "$WORK/lake" ] && [ -d "$WORK/duck" ] || RUNS=1 benches/ingest.sh >/dev/null
python3 benches/query_bench.py target/release/trailflow "$WORK/lake" "$WORK/duck" "$DATA" "${RUNS:-3}"
