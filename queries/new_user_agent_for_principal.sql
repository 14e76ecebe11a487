-- name: new_user_agent_for_principal
-- title: Principals calling with a tool they never used before
-- severity: low
-- description: A principal with a history in the evidence (active for at least baseline, with
--   min_events calls) that calls with a user agent of another kind than any it used before (the
--   tool's name without versions: aws-cli, Boto3, a browser, python-requests): a key or password
--   in another hand. AWS's own agents (console, services) are left out.
-- attack: T1078.004
-- attack_v19: T1078.004
-- param: baseline duration 12h How long a principal must have been seen before a new tool counts
-- param: min_events int 20 Calls a principal must have made before
WITH ev AS (
  SELECT user_arn, event_time, event_name, source_ip, user_agent,
         lower(regexp_replace(split_part(split_part(user_agent, ' ', 1), '/', 1), '[^A-Za-z_.-]', '', 'g')) AS tool
  FROM cloudtrail
  WHERE user_arn IS NOT NULL AND user_agent IS NOT NULL
    AND user_agent NOT LIKE '%amazonaws.com%' AND user_agent <> 'AWS Internal'
    AND coalesce(user_type, '') NOT IN ('AWSService', 'AWSAccount')
),
principal AS (
  SELECT user_arn, min(event_time) AS since FROM ev GROUP BY user_arn
),
pairs AS (
  SELECT user_arn, tool, min(event_time) AS first_seen, count(*) AS calls, min(user_agent) AS user_agent,
         array_to_string(array_slice(array_sort(array_agg(DISTINCT event_name)), 1, 8), ', ') AS apis,
         min(source_ip) AS source_ip
  FROM ev GROUP BY user_arn, tool
),
before AS (
  SELECT p.user_arn, p.tool, count(*) AS calls_before,
         array_to_string(array_sort(array_agg(DISTINCT e.tool)), ', ') AS known_tools
  FROM pairs p JOIN ev e ON e.user_arn = p.user_arn AND e.event_time < p.first_seen
  GROUP BY p.user_arn, p.tool
)
SELECT p.first_seen, p.user_arn AS actor_arn, p.user_agent AS new_user_agent, p.calls, p.apis,
       b.known_tools, b.calls_before, p.source_ip
FROM pairs p
JOIN principal q ON q.user_arn = p.user_arn
JOIN before b ON b.user_arn = p.user_arn AND b.tool = p.tool
WHERE p.first_seen >= q.since + $baseline AND b.calls_before >= $min_events
ORDER BY p.first_seen
