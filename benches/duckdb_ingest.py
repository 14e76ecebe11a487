"""DuckDB's side of benches/ingest.sh: convert the same evidence archives to Parquet, the strong way.

CloudTrail files ({"Records":[...]}, gzip) become one flattened table with the columns trailflow
extracts (the four JSON parts and the raw record as JSON text), one row per eventID. Flow logs
(gzip text with a header line) are first validated: each file's header is read, and the files are
grouped by format; each format is then read once with its own column list, and all are written
into one table by name. Both tables are zstd Parquet.
Both are sorted by time (and CloudTrail deduplicated), as trailflow's lake is; with
DUCKDB_SORT=0 the rows are written in the order read, DuckDB's fastest conversion.
Usage: python3 duckdb_ingest.py EVIDENCE_DIR OUT_DIR
"""
import glob
import gzip
import os
import sys
import time

import duckdb

src, out = sys.argv[1], sys.argv[2]
SORT = os.environ.get("DUCKDB_SORT", "1") != "0"
ORDER = lambda col: f"ORDER BY {col}" if SORT else ""
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
con.execute(f"SET threads = {os.cpu_count()}")
t0 = time.time()
con.execute(f"""
COPY (
  WITH recs AS (
    SELECT unnest(Records) AS r
    FROM read_json('{src}/AWSLogs/**/*_CloudTrail_*.json.gz',
                   columns = {{'Records': 'JSON[]'}}, format = 'auto', maximum_object_size = 1073741824)
  )
  SELECT DISTINCT ON (r->>'eventID')
    r->>'eventID' AS event_id,
    CAST(r->>'eventTime' AS TIMESTAMPTZ) AS event_time,
    r->>'eventVersion' AS event_version, r->>'eventSource' AS event_source, r->>'eventName' AS event_name,
    r->>'awsRegion' AS aws_region, r->>'sourceIPAddress' AS source_ip, r->>'userAgent' AS user_agent,
    r->>'errorCode' AS error_code, r->>'errorMessage' AS error_message,
    CAST(r->>'readOnly' AS BOOLEAN) AS read_only, r->>'eventType' AS event_type,
    r->>'eventCategory' AS event_category, CAST(r->>'managementEvent' AS BOOLEAN) AS management_event,
    r->>'recipientAccountId' AS recipient_account_id, r->>'requestID' AS request_id,
    r->'userIdentity'->>'type' AS user_type, r->'userIdentity'->>'arn' AS user_arn,
    r->'userIdentity'->>'userName' AS user_name, r->'userIdentity'->>'principalId' AS principal_id,
    r->'userIdentity'->>'accountId' AS account_id, r->'userIdentity'->>'accessKeyId' AS access_key_id,
    r->'userIdentity'->'sessionContext'->'sessionIssuer'->>'arn' AS session_issuer_arn,
    r->'userIdentity'->'sessionContext'->'attributes'->>'mfaAuthenticated' AS mfa_authenticated,
    CAST(r->'requestParameters' AS VARCHAR) AS request_parameters,
    CAST(r->'responseElements' AS VARCHAR) AS response_elements,
    CAST(r->'additionalEventData' AS VARCHAR) AS additional_event_data,
    CAST(r->'resources' AS VARCHAR) AS resources,
    CAST(r AS VARCHAR) AS raw
  FROM recs
  {ORDER('event_time')}
) TO '{out}/cloudtrail.parquet' (FORMAT parquet, COMPRESSION zstd)
""")
t1 = time.time()
# Validate: every flow file's header line, the files grouped by format.
formats = {}
for path in glob.glob(f"{src}/AWSLogs/**/*_vpcflowlogs_*.log.gz", recursive=True):
    with gzip.open(path, "rt") as f:
        header = f.readline().split()
    formats.setdefault(tuple(header), []).append(path)
INTS = {"version", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "tcp-flags", "traffic-path"}
selects = []
for header, files in formats.items():
    columns = ", ".join(f"'{c}': '{'BIGINT' if c in INTS else 'VARCHAR'}'" for c in header)
    listing = ", ".join(f"'{p}'" for p in files)
    cols = []
    for c in header:
        if c in ("start", "end"):
            cols.append(f'to_timestamp("{c}") AS {c}_time')
        else:
            cols.append(f'"{c}" AS {c.replace("-", "_")}')
    cols.append("filename AS source_file")
    selects.append(f"SELECT {', '.join(cols)} FROM read_csv([{listing}], delim = ' ', header = true, "
                   f"nullstr = '-', columns = {{{columns}}}, filename = true)")
union = " UNION ALL BY NAME ".join(selects)
# A set of CloudTrail alone (benches/real_events.py) has no flow logs to convert.
if selects:
    con.execute(f"COPY ({union} {ORDER('start_time')}) TO '{out}/flow_logs.parquet' (FORMAT parquet, COMPRESSION zstd)")
t2 = time.time()
ct = con.execute(f"SELECT count(*) FROM '{out}/cloudtrail.parquet'").fetchone()[0]
fl = con.execute(f"SELECT count(*) FROM '{out}/flow_logs.parquet'").fetchone()[0] if selects else 0
print(f"duckdb cloudtrail_rows={ct} flow_rows={fl} formats={len(formats)} cloudtrail_s={t1 - t0:.2f} flow_s={t2 - t1:.2f}")
