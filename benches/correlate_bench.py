"""`trailflow correlate` against a naive DuckDB join, with precision against the ground truth.
Usage: python3 correlate_bench.py TRAILFLOW_BIN LAKE DUCK_DIR GROUND_TRUTH [RUNS]
"""
import csv
import io
import json
import resource
import subprocess
import sys
import time

import duckdb

tf_bin, lake, duck_dir, truth_path = sys.argv[1:5]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 2
truth = json.load(open(truth_path))
incidents = {c["event_id"] for c in truth["changes"] if c["expected_verdict"] == "unusual_traffic_after_change"}

NACL = "('CreateNetworkAclEntry','ReplaceNetworkAclEntry','DeleteNetworkAclEntry','CreateNetworkAcl','DeleteNetworkAcl','ReplaceNetworkAclAssociation')"
NAIVE = f"""
WITH ch AS (
  SELECT event_id, event_time FROM read_parquet('{duck_dir}/cloudtrail.parquet')
  WHERE event_name IN {NACL} AND error_code IS NULL
),
fl AS (SELECT srcaddr, start_time, action FROM read_parquet('{duck_dir}/flow_logs.parquet')),
after AS (
  SELECT DISTINCT ch.event_id, f.srcaddr FROM ch JOIN fl f
    ON f.start_time >= ch.event_time AND f.start_time < ch.event_time + INTERVAL 24 HOUR AND f.action = 'ACCEPT'
),
before AS (
  SELECT DISTINCT ch.event_id, f.srcaddr FROM ch JOIN fl f
    ON f.start_time >= ch.event_time - INTERVAL 24 HOUR AND f.start_time < ch.event_time
)
SELECT a.event_id, count(*) AS new_peers FROM after a
WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.event_id = a.event_id AND b.srcaddr = a.srcaddr)
GROUP BY a.event_id
"""


def precision(flagged):
    if not flagged:
        return float("nan"), 0.0
    tp = len(flagged & incidents)
    return tp / len(flagged), tp / len(incidents)


tf_best = None
for _ in range(runs):
    t = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", tf_bin, "correlate", "--lake", lake, "--format", "csv"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    el = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"trailflow correlate failed: {err.strip()}")
    peak_kib = int(err.strip().splitlines()[-1])
    if tf_best is None or el < tf_best[0]:
        tf_best = (el, peak_kib, out)
rows = list(csv.DictReader(io.StringIO(tf_best[2])))
tf_flagged = {r["event_id"] for r in rows if r["verdict"] == "unusual_traffic_after_change"}

dd_best = None
for _ in range(runs):
    con = duckdb.connect()
    t = time.perf_counter()
    res = con.execute(NAIVE).fetchall()
    el = time.perf_counter() - t
    con.close()
    if dd_best is None or el < dd_best[0]:
        dd_best = (el, res)
dd_flagged = {r[0] for r in dd_best[1] if r[1] > 0}
dd_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

tp_, tr_ = precision(tf_flagged)
dp_, dr_ = precision(dd_flagged)
print(f"trailflow correlate: {tf_best[0]:.2f} s, peak {tf_best[1] / 1024:.0f} MiB, flagged {len(tf_flagged)}, precision {tp_:.2f}, recall {tr_:.2f}")
print(f"duckdb naive join:   {dd_best[0]:.2f} s, peak {dd_peak / 1024:.0f} MiB (python process), flagged {len(dd_flagged)}, precision {dp_:.2f}, recall {dr_:.2f}")
print(f"ratio (trailflow / duckdb time): {tf_best[0] / dd_best[0]:.2f}")
