-- name: instance_user_data_read
-- title: EC2 user data read or rewritten
-- severity: medium
-- description: DescribeInstanceAttribute for an instance's user data (where start-up scripts keep
--   passwords and keys), and ModifyInstanceAttribute that replaces it (code run at the next
--   start), with the outcome: a run of AccessDenied is someone trying instance after instance.
-- attack: T1552, T1059.009
-- attack_v19: T1552, T1059.009
SELECT event_time, account_id, aws_region, event_name,
       json_get_str(request_parameters, 'instanceId') AS instance_id,
       CASE WHEN event_name = 'DescribeInstanceAttribute' THEN 'user data read' ELSE 'user data replaced' END AS what,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'ec2.amazonaws.com'
  AND ((event_name = 'DescribeInstanceAttribute' AND json_get_str(request_parameters, 'attribute') = 'userData')
    OR (event_name = 'ModifyInstanceAttribute' AND json_get(request_parameters, 'userData') IS NOT NULL))
ORDER BY event_time
