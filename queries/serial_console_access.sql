-- name: serial_console_access
-- title: Direct access to instances: serial console and pushed SSH keys
-- severity: high
-- description: EnableSerialConsoleAccess, SendSerialConsoleSSHPublicKey and EC2 Instance Connect's
--   SendSSHPublicKey: a key pushed to an instance for a session that needs no open port and leaves
--   no trace in the security groups.
-- attack: T1021.008
-- attack_v19: T1021.008
SELECT event_time, account_id, aws_region, event_name,
       json_get_str(request_parameters, 'instanceId') AS instance_id,
       json_get_str(request_parameters, 'instanceOSUser') AS os_user,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE (event_source = 'ec2.amazonaws.com' AND event_name IN ('EnableSerialConsoleAccess', 'SendSerialConsoleSSHPublicKey'))
   OR (event_source = 'ec2-instance-connect.amazonaws.com' AND event_name IN ('SendSSHPublicKey', 'SendSerialConsoleSSHPublicKey'))
ORDER BY event_time
