"""DuckDB's side of benches/ingest.sh: convert the same evidence archives to Parquet.

CloudTrail files ({"Records":[...]}, gzip) become one flattened table with the columns trailflow
extracts (the four JSON parts and the raw record as JSON text); flow logs (gzip text, header line,
any field order) become one table by name. Both are written as zstd Parquet.
Usage: python3 duckdb_ingest.py EVIDENCE_DIR OUT_DIR
"""
import os
import sys
import time

import duckdb

src, out = sys.argv[1], sys.argv[2]
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
  ORDER BY event_time
) TO '{out}/cloudtrail.parquet' (FORMAT parquet, COMPRESSION zstd)
""")
t1 = time.time()
flow_glob = f"{src}/AWSLogs/**/*_vpcflowlogs_*.log.gz"
flow_src = f"read_csv('{flow_glob}', delim = ' ', header = true, nullstr = '-', union_by_name = true, filename = true)"
# Columns under the lake's names: dashes become underscores, start/end become timestamps.
cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {flow_src}").fetchall()]
select = []
for c in cols:
    if c in ("start", "end"):
        select.append(f'to_timestamp("{c}") AS {c}_time')
    elif c == "filename":
        select.append("filename AS source_file")
    else:
        select.append(f'"{c}" AS {c.replace("-", "_")}')
con.execute(f"""
COPY (SELECT {", ".join(select)} FROM {flow_src} ORDER BY start_time)
TO '{out}/flow_logs.parquet' (FORMAT parquet, COMPRESSION zstd)
""")
t2 = time.time()
ct = con.execute(f"SELECT count(*) FROM '{out}/cloudtrail.parquet'").fetchone()[0]
fl = con.execute(f"SELECT count(*) FROM '{out}/flow_logs.parquet'").fetchone()[0]
print(f"duckdb cloudtrail_rows={ct} flow_rows={fl} cloudtrail_s={t1 - t0:.2f} flow_s={t2 - t1:.2f}")
