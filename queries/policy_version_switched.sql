-- name: policy_version_switched
-- title: Managed policies given a new default version
-- severity: high
-- description: SetDefaultPolicyVersion, and CreatePolicyVersion with setAsDefault: every user,
--   group and role the policy is attached to gets the new rights at once, and the attachment
--   itself does not change. Versions that allow everything are marked.
-- attack: T1098.003
-- attack_v19: T1098.003
SELECT event_time, account_id, event_name, json_get_str(request_parameters, 'policyArn') AS policy,
       json_get_str(request_parameters, 'versionId') AS version,
       regexp_like(coalesce(json_get_str(request_parameters, 'policyDocument'), ''), '"Action"\s*:\s*(\[\s*)?"\*"') AS allows_everything,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com'
  AND (event_name = 'SetDefaultPolicyVersion'
       OR (event_name = 'CreatePolicyVersion' AND json_get_bool(request_parameters, 'setAsDefault')))
ORDER BY event_time
