-- name: instance_credentials_elsewhere
-- title: Instance role credentials used from another address
-- severity: high
-- description: Calls made with an EC2 instance's role credentials (sessions named after the
--   instance, i-...) from an address other than the one the instance itself calls from (the
--   address most of the session's calls come from). Credentials read from the metadata service
--   and used elsewhere look like this. Calls AWS services make for the instance are left out.
-- attack: T1552.005, T1078.004
-- attack_v19: T1552.005, T1078.004
WITH calls AS (
  SELECT event_time, account_id, user_arn, source_ip, event_name, error_code, user_agent, event_id
  FROM cloudtrail
  WHERE user_type = 'AssumedRole'
    AND regexp_like(user_arn, ':assumed-role/[^/]+/i-[0-9a-f]{8,17}$')
    AND source_ip IS NOT NULL AND source_ip <> 'AWS Internal' AND source_ip NOT LIKE '%.amazonaws.com'
),
home AS (
  -- The address each instance session calls from most (ties: the earliest, then the lowest, so
  -- that the answer never depends on the order rows come in).
  SELECT user_arn, source_ip AS home_ip FROM (
    SELECT user_arn, source_ip, row_number() OVER (PARTITION BY user_arn ORDER BY count(*) DESC, min(event_time), source_ip) AS n
    FROM calls GROUP BY user_arn, source_ip
  ) WHERE n = 1
)
SELECT min(c.event_time) AS first_call, max(c.event_time) AS last_call, c.account_id, c.user_arn AS session,
       h.home_ip AS instance_address, c.source_ip AS other_address, count(*) AS calls,
       array_to_string(array_sort(array_agg(DISTINCT c.event_name)), ', ') AS apis,
       min(c.user_agent) AS user_agent
FROM calls c
JOIN home h ON h.user_arn = c.user_arn
WHERE c.source_ip <> h.home_ip
GROUP BY c.account_id, c.user_arn, h.home_ip, c.source_ip
ORDER BY first_call
