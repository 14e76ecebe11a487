-- name: new_region_for_principal
-- title: Principals acting in a region they never used before
-- severity: medium
-- description: A principal with a history in the evidence (active for at least baseline, with
--   min_events calls) that suddenly acts in another AWS region: instances started where nobody
--   looks, resources hidden in a quiet region. Read-only calls and the global services' regions
--   are left out.
-- attack: T1078.004
-- attack_v19: T1078.004
-- param: baseline duration 12h How long a principal must have been seen before a new region counts
-- param: min_events int 20 Calls a principal must have made before
WITH all_ev AS (
  SELECT user_arn, aws_region, event_time, event_name, read_only, source_ip, event_source
  FROM cloudtrail
  WHERE user_arn IS NOT NULL AND aws_region IS NOT NULL
    AND coalesce(user_type, '') NOT IN ('AWSService', 'AWSAccount')
),
ev AS (
  -- Global services answer in one region whatever the caller's: they name no region.
  SELECT * FROM all_ev
  WHERE event_source NOT IN ('iam.amazonaws.com', 'sts.amazonaws.com', 'signin.amazonaws.com', 'organizations.amazonaws.com', 'health.amazonaws.com')
),
principal AS (
  SELECT user_arn, min(event_time) AS since FROM all_ev GROUP BY user_arn
),
pairs AS (
  SELECT user_arn, aws_region, min(event_time) AS first_seen, count(*) AS calls,
         sum(CASE WHEN read_only THEN 0 ELSE 1 END) AS writes,
         array_to_string(array_slice(array_sort(array_agg(DISTINCT event_name)), 1, 8), ', ') AS apis,
         min(source_ip) AS source_ip
  FROM ev GROUP BY user_arn, aws_region
),
before AS (
  SELECT p.user_arn, p.aws_region, count(*) AS calls_before,
         array_to_string(array_sort(array_agg(DISTINCT e.aws_region)), ', ') AS known_regions
  FROM pairs p JOIN all_ev e ON e.user_arn = p.user_arn AND e.event_time < p.first_seen
  GROUP BY p.user_arn, p.aws_region
)
SELECT p.first_seen, p.user_arn AS actor_arn, p.aws_region AS new_region, p.calls, p.writes, p.apis,
       b.known_regions, b.calls_before, p.source_ip
FROM pairs p
JOIN principal q ON q.user_arn = p.user_arn
JOIN before b ON b.user_arn = p.user_arn AND b.aws_region = p.aws_region
WHERE p.first_seen >= q.since + $baseline AND b.calls_before >= $min_events AND p.writes > 0
ORDER BY p.first_seen
