-- name: mfa_device_removed
-- title: MFA devices deactivated or deleted
-- severity: high
-- description: DeactivateMFADevice and DeleteVirtualMFADevice: a user's second factor removed,
--   by whom and from where. Without it a stolen password is enough to sign in.
-- attack: T1556.006
-- attack_v19: T1556.006
SELECT event_time, account_id, event_name,
       coalesce(json_get_str(request_parameters, 'userName'), json_get_str(request_parameters, 'serialNumber')) AS for_user,
       json_get_str(request_parameters, 'serialNumber') AS device,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com' AND event_name IN ('DeactivateMFADevice', 'DeleteVirtualMFADevice')
ORDER BY event_time
