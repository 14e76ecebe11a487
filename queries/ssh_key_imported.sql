-- name: ssh_key_imported
-- title: SSH key pairs imported or created
-- severity: medium
-- description: ImportKeyPair and CreateKeyPair: a key that instances launched later will accept,
--   by whom and from where. An imported key is one whose private half the caller already holds.
-- attack: T1098.004
-- attack_v19: T1098.004
SELECT event_time, account_id, aws_region, event_name, json_get_str(request_parameters, 'keyName') AS key_name,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'ec2.amazonaws.com' AND event_name IN ('ImportKeyPair', 'CreateKeyPair')
ORDER BY event_time
