-- name: kms_key_deletion
-- title: KMS keys scheduled for deletion or disabled
-- severity: high
-- description: ScheduleKeyDeletion and DisableKey: data encrypted under the key becomes
--   unreadable when the key goes (ransom, or destroying evidence). CancelKeyDeletion is listed
--   too, so the reader sees whether it was undone.
-- attack: T1485, T1486
-- attack_v19: T1485, T1486
SELECT event_time, account_id, aws_region, event_name,
       json_get_str(request_parameters, 'keyId') AS key_id,
       json_get_int(request_parameters, 'pendingWindowInDays') AS pending_days,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'kms.amazonaws.com' AND event_name IN ('ScheduleKeyDeletion', 'DisableKey', 'CancelKeyDeletion')
ORDER BY event_time
