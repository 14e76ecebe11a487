-- name: admin_policy_granted
-- title: Administrator rights granted to a user, group or role
-- severity: critical
-- description: A managed policy of full rights (AdministratorAccess, IAMFullAccess) attached, or
--   an inline policy put that allows every action on every resource (or every IAM action), to a
--   user, group or role: privilege escalation or a backdoor.
-- attack: T1098.003
-- attack_v19: T1098.003
SELECT event_time, account_id, event_name,
       coalesce(json_get_str(request_parameters, 'userName'), json_get_str(request_parameters, 'roleName'),
                json_get_str(request_parameters, 'groupName')) AS grantee,
       CASE WHEN event_name LIKE 'Attach%' THEN json_get_str(request_parameters, 'policyArn')
            ELSE 'inline: ' || coalesce(json_get_str(request_parameters, 'policyName'), '?') END AS policy,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com'
  AND ((event_name IN ('AttachUserPolicy', 'AttachGroupPolicy', 'AttachRolePolicy')
        AND regexp_like(json_get_str(request_parameters, 'policyArn'), ':policy/(AdministratorAccess|IAMFullAccess)$'))
    OR (event_name IN ('PutUserPolicy', 'PutGroupPolicy', 'PutRolePolicy')
        AND regexp_like(json_get_str(request_parameters, 'policyDocument'), '"Effect"\s*:\s*"Allow"')
        AND regexp_like(json_get_str(request_parameters, 'policyDocument'), '"Action"\s*:\s*(\[\s*)?"(\*|iam:\*)"')))
ORDER BY event_time
