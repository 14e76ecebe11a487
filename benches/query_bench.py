"""Investigation queries: trailflow (`trailflow sql`, whole process each time) against DuckDB
(in-process, over its own Parquet conversion of the same archives made by duckdb_ingest.py).
Checks that both return the same rows and prints each time and the ratio of the totals.
Usage: python3 query_bench.py TRAILFLOW_BIN LAKE DUCK_DIR EVIDENCE_DIR [RUNS]
"""
import csv
import io
import subprocess
import sys
import time

import duckdb

tf_bin, lake, duck_dir, evidence = sys.argv[1:5]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 3

PRIVATE_TF = "is_private_ip(srcaddr)"
PRIVATE_DD = "(srcaddr LIKE '10.%' OR srcaddr LIKE '172.16.%' OR srcaddr LIKE '192.168.%')"

# (name, trailflow SQL, DuckDB SQL); DuckDB reads {fl}, {ct}, {ni} for its files.
QUERIES = [
    ("top_talkers",
     "SELECT srcaddr, sum(bytes) AS b FROM flow_logs GROUP BY srcaddr ORDER BY b DESC NULLS LAST, srcaddr LIMIT 20",
     "SELECT srcaddr, sum(bytes) AS b FROM {fl} GROUP BY srcaddr ORDER BY b DESC NULLS LAST, srcaddr LIMIT 20"),
    ("bytes_per_hour",
     "SELECT CAST(extract(epoch FROM date_trunc('hour', start_time)) AS BIGINT) AS h, sum(bytes) AS b FROM flow_logs GROUP BY 1 ORDER BY 1",
     "SELECT CAST(epoch(date_trunc('hour', start_time)) AS BIGINT) AS h, sum(bytes) AS b FROM {fl} GROUP BY 1 ORDER BY 1"),
    ("distinct_ports_per_source",
     "SELECT srcaddr, count(DISTINCT dstport) AS n FROM flow_logs GROUP BY srcaddr ORDER BY n DESC, srcaddr LIMIT 20",
     "SELECT srcaddr, count(DISTINCT dstport) AS n FROM {fl} GROUP BY srcaddr ORDER BY n DESC, srcaddr LIMIT 20"),
    ("reject_share_per_eni",
     "SELECT interface_id, round(avg(CASE WHEN action = 'REJECT' THEN 1.0 ELSE 0.0 END), 6) AS r FROM flow_logs WHERE log_status = 'OK' GROUP BY 1 ORDER BY 1",
     "SELECT interface_id, round(avg(CASE WHEN action = 'REJECT' THEN 1.0 ELSE 0.0 END), 6) AS r FROM {fl} WHERE log_status = 'OK' GROUP BY 1 ORDER BY 1"),
    ("first_seen_external_peers",
     f"SELECT srcaddr, CAST(extract(epoch FROM min(start_time)) AS BIGINT) AS first_seen FROM flow_logs WHERE action = 'ACCEPT' AND NOT {PRIVATE_TF} GROUP BY srcaddr ORDER BY first_seen DESC, srcaddr LIMIT 20",
     f"SELECT srcaddr, CAST(epoch(min(start_time)) AS BIGINT) AS first_seen FROM {{fl}} WHERE action = 'ACCEPT' AND NOT {PRIVATE_DD} GROUP BY srcaddr ORDER BY first_seen DESC, srcaddr LIMIT 20"),
    ("events_per_actor",
     "SELECT user_arn, count(*) AS n FROM cloudtrail GROUP BY user_arn ORDER BY n DESC, user_arn LIMIT 20",
     "SELECT user_arn, count(*) AS n FROM {ct} GROUP BY user_arn ORDER BY n DESC, user_arn LIMIT 20"),
    ("json_filter_request_parameters",
     "SELECT event_name, count(*) AS n FROM cloudtrail WHERE json_get_str(request_parameters, 'networkAclId') = 'acl-0a1000000000000web' GROUP BY 1 ORDER BY 1",
     "SELECT event_name, count(*) AS n FROM {ct} WHERE json_extract_string(request_parameters, '$.networkAclId') = 'acl-0a1000000000000web' GROUP BY 1 ORDER BY 1"),
    ("flows_joined_to_interfaces",
     "SELECT json_get_str(i.item, 'SubnetId') AS subnet, count(*) AS n, sum(f.bytes) AS b FROM flow_logs f JOIN inventory i ON i.kind = 'network_interfaces' AND i.resource_id = f.interface_id GROUP BY 1 ORDER BY 1",
     "SELECT i.SubnetId AS subnet, count(*) AS n, sum(f.bytes) AS b FROM {fl} f JOIN {ni} i ON i.NetworkInterfaceId = f.interface_id GROUP BY 1 ORDER BY 1"),
    ("needle_ip",
     "SELECT count(*) AS n, sum(bytes) AS b FROM flow_logs WHERE srcaddr = '45.137.21.9'",
     "SELECT count(*) AS n, sum(bytes) AS b FROM {fl} WHERE srcaddr = '45.137.21.9'"),
    # The whole record scanned: trailflow reads `raw` back with its ids (docs/lake.md).
    ("needle_in_raw",
     "SELECT event_name, count(*) AS n FROM cloudtrail WHERE raw LIKE '%45.137.21.9%' GROUP BY 1 ORDER BY 1",
     "SELECT json_extract_string(raw, '$.eventName') AS event_name, count(*) AS n FROM {ct} WHERE raw LIKE '%45.137.21.9%' GROUP BY 1 ORDER BY 1"),
]

fl = f"read_parquet('{duck_dir}/flow_logs.parquet')"
ct = f"read_parquet('{duck_dir}/cloudtrail.parquet')"
ni = (f"(SELECT unnest(NetworkInterfaces, recursive := true) FROM read_json('{evidence}/inventory/*/*/describe-network-interfaces.json'))")


def cell(v):
    if v is None or v == "":
        return ""
    try:
        f = float(v)
        return f"{f:.6g}"
    except (TypeError, ValueError):
        return str(v)


def norm(rows):
    return [[cell(v) for v in r] for r in rows]


tf_total = dd_total = 0.0
ok = True
print(f"{'query':34} {'trailflow s':>12} {'duckdb s':>10} {'ratio':>7}  same rows")
for name, tf_sql, dd_sql in QUERIES:
    tf_best = dd_best = None
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([tf_bin, "sql", "--lake", lake, "--format", "csv", tf_sql], capture_output=True, text=True)
        el = time.perf_counter() - t
        if out.returncode != 0:
            print(name, "trailflow failed:", out.stderr.strip())
            sys.exit(1)
        tf_best = el if tf_best is None else min(tf_best, el)
        tf_rows = list(csv.reader(io.StringIO(out.stdout)))[1:]
        con = duckdb.connect()
        t = time.perf_counter()
        dd_rows = con.execute(dd_sql.format(fl=fl, ct=ct, ni=ni)).fetchall()
        el = time.perf_counter() - t
        dd_best = el if dd_best is None else min(dd_best, el)
        con.close()
    same = norm(tf_rows) == norm(dd_rows)
    ok &= same
    tf_total += tf_best
    dd_total += dd_best
    print(f"{name:34} {tf_best:12.3f} {dd_best:10.3f} {tf_best / dd_best:7.2f}  {same}")
    if not same:
        print("  trailflow:", norm(tf_rows)[:3])
        print("  duckdb:   ", norm(dd_rows)[:3])
print(f"{'total':34} {tf_total:12.3f} {dd_total:10.3f} {tf_total / dd_total:7.2f}  {ok}")
