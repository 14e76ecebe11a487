-- name: console_login_without_mfa
-- title: Console sign-ins without MFA
-- severity: high
-- description: Successful AWS console sign-ins of the root user or an IAM user for which
--   CloudTrail records MFAUsed = No. Sign-ins through an identity provider (assumed roles,
--   federated users) are left out: their second factor is checked by the provider, and CloudTrail
--   says No for them whatever it was.
-- attack: T1078.004
-- attack_v19: T1078.004
SELECT event_time, account_id, user_type,
       coalesce(user_name, CASE WHEN user_type = 'Root' THEN 'root' END, user_arn) AS who,
       source_ip, user_agent, json_get_str(additional_event_data, 'LoginTo') AS login_to,
       user_arn AS actor_arn, event_id
FROM cloudtrail
WHERE event_name = 'ConsoleLogin'
  AND json_get_str(response_elements, 'ConsoleLogin') = 'Success'
  AND json_get_str(additional_event_data, 'MFAUsed') = 'No'
  AND user_type IN ('Root', 'IAMUser')
ORDER BY event_time
