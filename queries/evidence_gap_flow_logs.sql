-- name: evidence_gap_flow_logs
-- title: Hours missing from a flow log
-- severity: medium
-- description: For each flow log (the fl- id in the file name, else account and region), the
--   hours without a single record between its first and last, and flow logs that stop before
--   the evidence ends. A missing hour is a file that never arrived or was removed; a log that
--   stops may have been deleted (see flow_log_deletion). Quiet interfaces still write NODATA
--   records, so a busy VPC is never silent for an hour.
-- attack: T1562.008, T1070
-- attack_v19: T1685.002, T1070
-- param: min_missing_hours int 1 Shortest gap, in hours, that counts
WITH hours AS (
  SELECT DISTINCT coalesce(regexp_match(source_file, '(fl-[0-9a-f]+)')[1], account_id || '/' || region) AS flow_log,
         account_id, region, date_trunc('hour', start_time) AS hour
  FROM flow_logs
),
evidence AS (
  SELECT date_trunc('hour', max(start_time)) AS last_hour FROM flow_logs
),
next_hours AS (
  SELECT *, lead(hour) OVER (PARTITION BY flow_log ORDER BY hour) AS next_hour FROM hours
),
gaps AS (
  SELECT flow_log, account_id, region, hour + INTERVAL '1 hour' AS gap_start, next_hour AS gap_end,
         'no records' AS kind
  FROM next_hours WHERE next_hour > hour + INTERVAL '1 hour'
  UNION ALL
  SELECT n.flow_log, n.account_id, n.region, n.hour + INTERVAL '1 hour', e.last_hour + INTERVAL '1 hour',
         'stopped before the evidence ends'
  FROM next_hours n CROSS JOIN evidence e
  WHERE n.next_hour IS NULL AND n.hour < e.last_hour
)
SELECT gap_start, gap_end,
       (arrow_cast(gap_end, 'Int64') - arrow_cast(gap_start, 'Int64')) / 3600000000 AS missing_hours,
       kind, flow_log, account_id, region
FROM gaps
WHERE (arrow_cast(gap_end, 'Int64') - arrow_cast(gap_start, 'Int64')) / 3600000000 >= $min_missing_hours
ORDER BY gap_start, flow_log
