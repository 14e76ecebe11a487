"""Needle lookups: `trailflow search` (whole process each time) against DuckDB `LIKE` over its own
Parquet of the same events (in-process, rows fetched into Python), same machine; trailflow writes
its CSV to a file, read back (to count the hits) after the clock stops. The needles are taken from the lake: the
access key id in the most events, and a source address in only a handful.
Usage: python3 search_bench.py TRAILFLOW_BIN LAKE DUCK_DIR [RUNS]
"""
import csv
import io
import os
import subprocess
import sys
import tempfile
import time

import duckdb

tf_bin, lake, duck_dir = sys.argv[1:4]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5


def tf_sql(q):
    out = subprocess.run([tf_bin, "sql", "--lake", lake, "--format", "csv", q], capture_output=True, text=True, check=True)
    return list(csv.reader(io.StringIO(out.stdout)))[1:]


key = tf_sql("SELECT access_key_id FROM cloudtrail WHERE access_key_id IS NOT NULL "
             "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][0]
ip = tf_sql("SELECT source_ip FROM cloudtrail WHERE source_ip LIKE '%.%.%.%' "
            "GROUP BY 1 HAVING count(*) BETWEEN 2 AND 10 ORDER BY count(*), 1 LIMIT 1")[0][0]
ct = f"read_parquet('{duck_dir}/cloudtrail.parquet')"
tf_total = dd_total = 0.0
print(f"{'needle':28} {'hits tf':>8} {'hits dd':>8} {'trailflow s':>12} {'duckdb s':>10} {'ratio':>7}")
for needle in [key, ip]:
    tf_best = dd_best = None
    for _ in range(runs):
        # The whole process, writing its CSV to a file (read back after the clock stops).
        out_csv = os.path.join(tempfile.gettempdir(), "trailflow-search-bench.csv")
        t = time.perf_counter()
        out = subprocess.run([tf_bin, "search", "--lake", lake, "--format", "csv", "-o", out_csv, needle],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        el = time.perf_counter() - t
        if out.returncode != 0:
            sys.exit(f"trailflow search failed: {out.stderr.strip()}")
        with open(out_csv, newline="") as fh:
            tf_hits = sum(1 for _ in csv.reader(fh)) - 1
        tf_best = el if tf_best is None else min(tf_best, el)
        con = duckdb.connect()
        t = time.perf_counter()
        rows = con.execute(
            f"SELECT event_time, event_id, event_name, event_source, aws_region, source_ip, user_arn, access_key_id, "
            f"error_code FROM {ct} WHERE raw LIKE '%{needle}%' ORDER BY event_time").fetchall()
        el = time.perf_counter() - t
        con.close()
        dd_best = el if dd_best is None else min(dd_best, el)
    tf_total += tf_best
    dd_total += dd_best
    print(f"{needle:28} {tf_hits:8d} {len(rows):8d} {tf_best:12.3f} {dd_best:10.3f} {tf_best / dd_best:7.3f}")
print(f"{'total':28} {'':8} {'':8} {tf_total:12.3f} {dd_total:10.3f} {tf_total / dd_total:7.3f}")
