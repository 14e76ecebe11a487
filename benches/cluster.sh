#!/usr/bin/env bash
# Cluster benchmark (issue 18): the correlation and three heavy flow hunts (beaconing,
# new_external_peers, port_scan) on the large benchmark lake (about 20 million flow records in
# AWS's delivery shape), in process against a Ballista cluster of a scheduler and two executors on
# localhost, same machine, same lake. Prints wall time per question and the ratio.
#
#   benches/cluster.sh                  # SIZE=large (default here)
#   SIZE=medium RUNS=3 benches/cluster.sh
#   CONCURRENCY=1 benches/cluster.sh    # tasks per executor (default: 1, so that two executors
#                                       # use the two cores in-process DataFusion uses)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-large}
FEATURES=cluster
. benches/common.sh
RUNS=${RUNS:-2}
TF=target/release/trailflow
make_data
LAKE="$WORK/cluster-lake-$WEB-$CT-$MINUTES"
[ -d "$LAKE/flow_logs" ] || $TF ingest "$DATA" --lake "$LAKE" --quiet --no-index >/dev/null
# The derived tables are stored at the end of an ingest; a lake written by an older trailflow
# gets them from a compaction.
[ -d "$LAKE/derived" ] || $TF compact --lake "$LAKE" --quiet >/dev/null
flows=$($TF sql --lake "$LAKE" --format csv "SELECT count(*) FROM flow_logs" | tail -1)
echo "== $flows flow records, lake $LAKE"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$(port)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
$TF cluster scheduler --port "$SP" >/dev/null 2>&1 & PIDS+=($!)
for _ in 1 2; do
  $TF cluster executor --scheduler "localhost:$SP" --port "$(port)" --grpc-port "$(port)" \
    --concurrency "${CONCURRENCY:-1}" >/dev/null 2>&1 & PIDS+=($!)
done
URL="df://localhost:$SP"
for _ in $(seq 120); do
  $TF sql --lake "$LAKE" --cluster "$URL" "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.5
done

seconds() { # command...: wall seconds of the fastest of RUNS runs
  local best=""
  for _ in $(seq "$RUNS"); do
    local t0 t1 s
    t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
  done
  printf '%.2f' "$best"
}

printf '%-22s %12s %12s %8s\n' question in-process cluster ratio
for q in correlate beaconing new_external_peers port_scan; do
  if [ "$q" = correlate ]; then args=(correlate --format csv); else args=(hunt run "$q" --format csv); fi
  a=$(seconds $TF "${args[@]}" --lake "$LAKE")
  b=$(seconds $TF "${args[@]}" --lake "$LAKE" --cluster "$URL")
  printf '%-22s %11ss %11ss %8.2f\n' "$q" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
