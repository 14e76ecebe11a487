-- name: root_activity
-- title: Root user activity
-- severity: medium
-- description: Every call the account's root user made itself (not AWS services acting for it),
--   with where from and whether it failed. Root is for the few tasks that need it: setting up
--   an account or a trail is expected; day-to-day work, access keys and sign-ins from unknown
--   addresses are not.
-- attack: T1078.004
-- attack_v19: T1078.004
SELECT event_time, account_id, event_source, event_name, source_ip, user_agent,
       CASE WHEN error_code IS NOT NULL THEN 'failed: ' || error_code
            WHEN json_get_str(response_elements, 'ConsoleLogin') = 'Failure' THEN 'failed: ' || coalesce(error_message, 'sign-in refused')
            ELSE 'succeeded' END AS outcome,
       request_parameters, event_id
FROM cloudtrail
WHERE user_type = 'Root'
  AND invoked_by IS NULL
  AND coalesce(event_type, '') NOT IN ('AwsServiceEvent')
ORDER BY event_time
