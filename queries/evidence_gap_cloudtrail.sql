-- name: evidence_gap_cloudtrail
-- title: Hours without CloudTrail
-- severity: medium
-- description: For each account and region, the hours without a single CloudTrail event
--   between the first and the last: a trail stopped and restarted, files removed from the
--   bucket, or a delivery that failed. A region nobody uses is quiet for hours legitimately;
--   an account's main region seldom is.
-- attack: T1562.008, T1070
-- attack_v19: T1685.002, T1070
-- param: min_missing_hours int 1 Shortest gap, in hours, that counts
WITH hours AS (
  SELECT DISTINCT recipient_account_id AS account_id, aws_region, date_trunc('hour', event_time) AS hour
  FROM cloudtrail
),
next_hours AS (
  SELECT *, lead(hour) OVER (PARTITION BY account_id, aws_region ORDER BY hour) AS next_hour FROM hours
)
SELECT hour + INTERVAL '1 hour' AS gap_start, next_hour AS gap_end,
       (arrow_cast(next_hour, 'Int64') - arrow_cast(hour, 'Int64')) / 3600000000 - 1 AS missing_hours,
       account_id, aws_region
FROM next_hours
WHERE next_hour IS NOT NULL
  AND (arrow_cast(next_hour, 'Int64') - arrow_cast(hour, 'Int64')) / 3600000000 - 1 >= $min_missing_hours
ORDER BY gap_start, account_id, aws_region
