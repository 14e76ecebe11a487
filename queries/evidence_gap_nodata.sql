-- name: evidence_gap_nodata
-- title: Interfaces reporting NODATA or SKIPDATA
-- severity: low
-- description: Runs of consecutive hours in which an interface's flow log records say NODATA
--   (no traffic, or an interface that was detached or stopped) and any SKIPDATA (records lost
--   during capture: traffic happened that the evidence does not hold). NODATA runs shorter than
--   `min_hours` are ignored; SKIPDATA always counts.
-- attack: T1562.008
-- attack_v19: T1685.002
-- param: min_hours int 2 Shortest run of NODATA hours that counts
WITH hours AS (
  SELECT interface_id, log_status, date_trunc('hour', start_time) AS hour, count(*) AS records
  FROM flow_logs
  WHERE log_status IN ('NODATA', 'SKIPDATA')
  GROUP BY interface_id, log_status, date_trunc('hour', start_time)
),
marked AS (
  SELECT *,
         CASE WHEN lag(hour) OVER (PARTITION BY interface_id, log_status ORDER BY hour) + INTERVAL '1 hour' = hour
              THEN 0 ELSE 1 END AS starts_run
  FROM hours
),
runs AS (
  SELECT *, sum(starts_run) OVER (PARTITION BY interface_id, log_status ORDER BY hour
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
  FROM marked
)
SELECT min(hour) AS run_start, max(hour) + INTERVAL '1 hour' AS run_end, count(*) AS hours,
       interface_id, log_status, sum(records) AS records
FROM runs
GROUP BY interface_id, log_status, run
HAVING log_status = 'SKIPDATA' OR count(*) >= $min_hours
ORDER BY run_start, interface_id
