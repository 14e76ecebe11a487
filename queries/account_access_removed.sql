-- name: account_access_removed
-- title: Other users' access removed
-- severity: high
-- description: Access keys deleted or deactivated, console passwords deleted, MFA-protected users
--   deleted, by a principal other than the user concerned: an intruder locking the defenders out
--   (or a clean-up that should be in the change log).
-- attack: T1531
-- attack_v19: T1531
SELECT event_time, account_id, event_name, json_get_str(request_parameters, 'userName') AS for_user,
       coalesce(json_get_str(request_parameters, 'accessKeyId'), '') AS access_key,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com'
  AND (event_name IN ('DeleteAccessKey', 'DeleteLoginProfile', 'DeleteUser')
       OR (event_name = 'UpdateAccessKey' AND json_get_str(request_parameters, 'status') = 'Inactive'))
  AND json_get_str(request_parameters, 'userName') IS NOT NULL
  AND json_get_str(request_parameters, 'userName') <> coalesce(user_name, '')
ORDER BY event_time
