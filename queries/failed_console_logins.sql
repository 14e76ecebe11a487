-- name: failed_console_logins
-- title: Bursts of failed console sign-ins
-- severity: high
-- description: Failed console sign-ins from one address within an hour, at least min_failures of
--   them, with the names tried and whether the same address then signed in successfully. One
--   mistyped password is not a burst; a run of failures, and above all one followed by a success,
--   is a password being guessed.
-- attack: T1110
-- attack_v19: T1110
-- param: min_failures int 3 Failures from one address within an hour that make a burst
WITH failures AS (
  SELECT event_time, account_id, source_ip,
         coalesce(user_name, CASE WHEN user_type = 'Root' THEN 'root' END, user_arn, '(unknown)') AS who
  FROM cloudtrail
  WHERE event_name = 'ConsoleLogin'
    AND (json_get_str(response_elements, 'ConsoleLogin') = 'Failure' OR error_message = 'Failed authentication')
),
bursts AS (
  SELECT account_id, source_ip, date_trunc('hour', event_time) AS hour,
         count(*) AS failures, min(event_time) AS first_failure, max(event_time) AS last_failure,
         array_to_string(array_sort(array_agg(DISTINCT who)), ', ') AS names_tried
  FROM failures
  GROUP BY account_id, source_ip, date_trunc('hour', event_time)
  HAVING count(*) >= $min_failures
)
SELECT b.first_failure, b.last_failure, b.account_id, b.source_ip, b.failures, b.names_tried,
       min(s.event_time) AS then_signed_in_at,
       array_to_string(array_sort(array_agg(DISTINCT coalesce(s.user_name, CASE WHEN s.user_type = 'Root' THEN 'root' END, s.user_arn))), ', ') AS signed_in_as
FROM bursts b
LEFT JOIN cloudtrail s
  ON s.event_name = 'ConsoleLogin' AND s.source_ip = b.source_ip AND s.account_id = b.account_id
 AND json_get_str(s.response_elements, 'ConsoleLogin') = 'Success'
 AND s.event_time >= b.first_failure AND s.event_time < b.last_failure + INTERVAL '1 hour'
GROUP BY b.first_failure, b.last_failure, b.account_id, b.source_ip, b.failures, b.names_tried
ORDER BY b.first_failure
