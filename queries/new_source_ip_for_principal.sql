-- name: new_source_ip_for_principal
-- title: Principals calling from an address they never used before
-- severity: medium
-- description: A principal with a history in the evidence (active for at least baseline, with
--   min_events calls) that suddenly calls from an address it never used: a stolen key or
--   password used elsewhere. AWS services' own addresses are left out.
-- attack: T1078.004
-- attack_v19: T1078.004
-- param: baseline duration 12h How long a principal must have been seen before a new address counts
-- param: min_events int 20 Calls a principal must have made before
WITH ev AS (
  SELECT user_arn, source_ip, event_time, event_name, user_agent
  FROM cloudtrail
  WHERE user_arn IS NOT NULL AND source_ip IS NOT NULL
    AND source_ip <> 'AWS Internal' AND source_ip NOT LIKE '%.amazonaws.com'
    AND coalesce(user_type, '') NOT IN ('AWSService', 'AWSAccount')
),
principal AS (
  SELECT user_arn, min(event_time) AS since FROM ev GROUP BY user_arn
),
pairs AS (
  SELECT user_arn, source_ip, min(event_time) AS first_seen, count(*) AS calls,
         array_to_string(array_slice(array_sort(array_agg(DISTINCT event_name)), 1, 8), ', ') AS apis,
         min(user_agent) AS user_agent
  FROM ev GROUP BY user_arn, source_ip
),
before AS (
  -- Calls of the principal before each new address appeared.
  SELECT p.user_arn, p.source_ip, count(*) AS calls_before,
         array_to_string(array_sort(array_agg(DISTINCT e.source_ip)), ', ') AS known_addresses
  FROM pairs p JOIN ev e ON e.user_arn = p.user_arn AND e.event_time < p.first_seen
  GROUP BY p.user_arn, p.source_ip
)
SELECT p.first_seen, p.user_arn AS actor_arn, p.source_ip AS new_address, p.calls, p.apis,
       b.known_addresses, b.calls_before, p.user_agent
FROM pairs p
JOIN principal q ON q.user_arn = p.user_arn
JOIN before b ON b.user_arn = p.user_arn AND b.source_ip = p.source_ip
WHERE p.first_seen >= q.since + $baseline AND b.calls_before >= $min_events
ORDER BY p.first_seen
