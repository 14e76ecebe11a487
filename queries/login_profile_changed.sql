-- name: login_profile_changed
-- title: Console passwords created or changed
-- severity: high
-- description: CreateLoginProfile and UpdateLoginProfile: a console password set for a user, by
--   whom, from where. Setting another user's password (or giving a console password to a user
--   that had none) is a way back in.
-- attack: T1098
-- attack_v19: T1098
SELECT event_time, account_id, event_name,
       coalesce(json_get_str(request_parameters, 'userName'), user_name) AS for_user,
       user_arn AS actor_arn,
       coalesce(json_get_str(request_parameters, 'userName'), user_name) <> coalesce(user_name, '') AS for_another_user,
       json_get_bool(request_parameters, 'passwordResetRequired') AS reset_required,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com' AND event_name IN ('CreateLoginProfile', 'UpdateLoginProfile')
ORDER BY event_time
