-- name: unusual_instances_launched
-- title: GPU and very large instances launched
-- severity: high
-- description: RunInstances of GPU, accelerator or very large instance types (p, g, inf, trn, dl,
--   x, u and 24xlarge or larger), with how many and where: cryptocurrency mining and model
--   training on the victim's bill. Failed launches are listed too: quotas stop many attempts.
-- attack: T1496
-- attack_v19: T1496
SELECT event_time, account_id, aws_region, json_get_str(request_parameters, 'instanceType') AS instance_type,
       coalesce(json_get_int(request_parameters, 'instancesSet', 'items', 0, 'maxCount'), 1) AS instances,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'ec2.amazonaws.com' AND event_name = 'RunInstances'
  AND regexp_like(json_get_str(request_parameters, 'instanceType'), '^(p[0-9]|g[0-9]|inf[0-9]|trn[0-9]|dl[0-9]|x[0-9]|u-)|\.(24|32|48|56|112)xlarge|metal')
ORDER BY event_time
