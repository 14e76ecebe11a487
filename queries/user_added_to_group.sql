-- name: user_added_to_group
-- title: Users added to IAM groups
-- severity: medium
-- description: AddUserToGroup calls, with whether the group's name says it is an administrators'
--   group: the quiet way to give a user rights, since the group's policies do not change.
-- attack: T1098.003
-- attack_v19: T1098.003
SELECT event_time, account_id, json_get_str(request_parameters, 'userName') AS user_added,
       json_get_str(request_parameters, 'groupName') AS group_name,
       regexp_like(lower(json_get_str(request_parameters, 'groupName')), 'admin|root|power|full|owner') AS admin_like,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com' AND event_name = 'AddUserToGroup'
ORDER BY event_time
