-- name: role_trust_opened
-- title: Roles that anyone, or an outside account, may assume
-- severity: high
-- description: CreateRole and UpdateAssumeRolePolicy whose trust policy lets every principal
--   ("*") or an AWS account the evidence does not otherwise show assume the role: a backdoor
--   into the account that survives password and key rotation.
-- attack: T1098.003
-- attack_v19: T1098.003
WITH known AS (
  SELECT DISTINCT recipient_account_id AS account FROM cloudtrail WHERE recipient_account_id IS NOT NULL
),
trust AS (
  SELECT event_time, account_id, event_name, json_get_str(request_parameters, 'roleName') AS role,
         coalesce(json_get_str(request_parameters, 'assumeRolePolicyDocument'), json_get_str(request_parameters, 'policyDocument')) AS doc,
         error_code, user_arn, source_ip, user_agent, event_id
  FROM cloudtrail
  WHERE event_source = 'iam.amazonaws.com' AND event_name IN ('CreateRole', 'UpdateAssumeRolePolicy')
),
principals AS (
  -- Every account named in the policy (arn:aws:iam::ACCOUNT:...), outside the evidence's own.
  SELECT event_id, substr(part, 1, 12) AS account
  FROM (SELECT event_id, unnest(string_to_array(doc, 'arn:aws:iam::')) AS part FROM trust)
  WHERE regexp_like(substr(part, 1, 12), '^[0-9]{12}$')
    AND substr(part, 1, 12) NOT IN (SELECT account FROM known)
)
SELECT t.event_time, t.account_id, t.event_name, t.role,
       CASE WHEN regexp_like(t.doc, '"AWS"\s*:\s*(\[\s*)?"\*"') OR regexp_like(t.doc, '"Principal"\s*:\s*"\*"') THEN 'anyone'
            ELSE 'account ' || array_to_string(array_agg(DISTINCT p.account), ', ') END AS who_may_assume,
       CASE WHEN t.error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || t.error_code END AS outcome,
       t.user_arn AS actor_arn, t.source_ip, t.user_agent, t.event_id
FROM trust t
LEFT JOIN principals p ON p.event_id = t.event_id
GROUP BY t.event_time, t.account_id, t.event_name, t.role, t.doc, t.error_code, t.user_arn, t.source_ip, t.user_agent, t.event_id
HAVING regexp_like(t.doc, '"AWS"\s*:\s*(\[\s*)?"\*"') OR regexp_like(t.doc, '"Principal"\s*:\s*"\*"') OR count(p.account) > 0
ORDER BY t.event_time
