-- name: role_assumed_from_outside
-- title: Roles assumed by accounts outside the evidence
-- severity: high
-- description: AssumeRole (and its SAML and web-identity forms) by a principal of an AWS account
--   that is none of the accounts the evidence holds: someone from outside the organisation working
--   inside it, through a trust a role gives them (see role_trust_opened).
-- attack: T1078.004, T1199
-- attack_v19: T1078.004, T1199
WITH known AS (
  SELECT DISTINCT recipient_account_id AS account FROM cloudtrail WHERE recipient_account_id IS NOT NULL
)
SELECT event_time, recipient_account_id AS account_id, event_name,
       json_get_str(request_parameters, 'roleArn') AS role_arn,
       json_get_str(request_parameters, 'roleSessionName') AS session_name,
       account_id AS caller_account, coalesce(user_arn, principal_id) AS caller,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'sts.amazonaws.com'
  AND event_name IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
  AND account_id IS NOT NULL AND recipient_account_id IS NOT NULL
  AND account_id <> recipient_account_id
  AND account_id NOT IN (SELECT account FROM known)
ORDER BY event_time
