-- name: ssm_remote_commands
-- title: Commands and sessions run on instances through Systems Manager
-- severity: medium
-- description: SendCommand (a script run on instances) and StartSession (a shell), with the
--   document, the instances and who asked: code execution without SSH or an open port.
-- attack: T1651
-- attack_v19: T1651
SELECT event_time, account_id, aws_region, event_name,
       json_get_str(request_parameters, 'documentName') AS document,
       coalesce(json_get_str(request_parameters, 'target'), CAST(json_get(request_parameters, 'instanceIds') AS VARCHAR),
                CAST(json_get(request_parameters, 'targets') AS VARCHAR)) AS targets,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'ssm.amazonaws.com' AND event_name IN ('SendCommand', 'StartSession')
ORDER BY event_time
