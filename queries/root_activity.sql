-- name: root_activity
-- title: Root user activity
-- severity: medium
-- description: The root user's sign-ins (failed ones too) and every change it made itself (not
--   AWS services acting for it), with where from and whether it failed. Root is for the few tasks
--   that need it: setting up the account's trail is expected and left out (CreateTrail,
--   StartLogging, selectors), as are the reads a console session makes; access keys, policies and
--   sign-ins from unknown addresses are not.
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
  AND (event_name = 'ConsoleLogin' OR read_only IS DISTINCT FROM true)
  AND NOT (event_source = 'cloudtrail.amazonaws.com'
           AND event_name IN ('CreateTrail', 'StartLogging', 'PutEventSelectors', 'PutInsightSelectors', 'AddTags', 'CreateEventDataStore'))
ORDER BY event_time
