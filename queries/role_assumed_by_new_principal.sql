-- name: role_assumed_by_new_principal
-- title: Roles assumed by a principal that never assumed them before
-- severity: medium
-- description: AssumeRole by a caller that had not assumed that role before, when the role has a
--   history in the evidence (assumed min_assumptions times or more by others, over at least
--   baseline): a new hand on an established role, such as a freshly made user taking over a
--   deployment role. Callers from outside the evidence's accounts are in role_assumed_from_outside.
-- attack: T1078.004
-- attack_v19: T1078.004
-- param: baseline duration 12h How long a role must have been assumed before a new caller counts
-- param: min_assumptions int 5 Earlier assumptions of the role by other callers
WITH assumed AS (
  SELECT event_time, recipient_account_id AS account_id, json_get_str(request_parameters, 'roleArn') AS role_arn,
         coalesce(user_arn, principal_id, account_id) AS caller, source_ip, user_agent, error_code, event_id
  FROM cloudtrail
  WHERE event_source = 'sts.amazonaws.com' AND event_name IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
    AND json_get_str(request_parameters, 'roleArn') IS NOT NULL
    AND coalesce(user_type, '') <> 'AWSService'
),
firsts AS (
  SELECT role_arn, caller, min(event_time) AS first_time FROM assumed GROUP BY role_arn, caller
),
roles AS (
  SELECT role_arn, min(event_time) AS since FROM assumed GROUP BY role_arn
),
history AS (
  SELECT f.role_arn, f.caller, count(*) AS before_by_others,
         array_to_string(array_slice(array_sort(array_agg(DISTINCT a.caller)), 1, 5), ', ') AS usual_callers
  FROM firsts f JOIN assumed a ON a.role_arn = f.role_arn AND a.caller <> f.caller AND a.event_time < f.first_time
  GROUP BY f.role_arn, f.caller
)
SELECT a.event_time, a.account_id, a.role_arn, a.caller, h.usual_callers, h.before_by_others,
       CASE WHEN a.error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || a.error_code END AS outcome,
       a.source_ip, a.user_agent, a.event_id
FROM assumed a
JOIN firsts f ON f.role_arn = a.role_arn AND f.caller = a.caller AND f.first_time = a.event_time
JOIN roles r ON r.role_arn = a.role_arn
JOIN history h ON h.role_arn = a.role_arn AND h.caller = a.caller
WHERE a.event_time >= r.since + $baseline AND h.before_by_others >= $min_assumptions
ORDER BY a.event_time
