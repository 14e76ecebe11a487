-- name: federation_token_issued
-- title: Federation tokens issued to IAM users
-- severity: medium
-- description: sts:GetFederationToken: an IAM user's long-term key turned into temporary
--   credentials that outlive the key's deletion (they last up to 36 hours) and carry their own
--   policy. Rare in day-to-day work, a known way to keep access.
-- attack: T1098.001, T1078.004
-- attack_v19: T1098.001, T1078.004
SELECT event_time, account_id, json_get_str(request_parameters, 'name') AS token_name,
       json_get_int(request_parameters, 'durationSeconds') AS duration_seconds,
       regexp_like(coalesce(json_get_str(request_parameters, 'policy'), ''), '"Action"\s*:\s*(\[\s*)?"\*"') AS all_actions,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, access_key_id, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'sts.amazonaws.com' AND event_name = 'GetFederationToken'
ORDER BY event_time
