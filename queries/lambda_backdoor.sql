-- name: lambda_backdoor
-- title: Lambda functions opened, rewritten or given layers
-- severity: high
-- description: AddPermission that lets anyone ("*") or another account invoke a function,
--   UpdateFunctionCode, and UpdateFunctionConfiguration that adds layers: code that runs on every
--   trigger, changed outside the usual deployment. The principal and tool show whether it was the
--   pipeline.
-- attack: T1546, T1525
-- attack_v19: T1546, T1525
SELECT event_time, account_id, aws_region,
       regexp_replace(event_name, '20[0-9]{6}v?[0-9]*$', '') AS action,
       coalesce(json_get_str(request_parameters, 'functionName'),
                json_get_str(request_parameters, 'fullyQualifiedArn', 'relativeId', 'functionName')) AS function_name,
       CASE WHEN event_name LIKE 'AddPermission%' THEN 'invoke allowed for ' || coalesce(json_get_str(request_parameters, 'principal'), '?')
            WHEN event_name LIKE 'UpdateFunctionCode%' THEN 'code replaced'
            ELSE 'layers: ' || coalesce(CAST(json_get(request_parameters, 'layers') AS VARCHAR), '') END AS what,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'lambda.amazonaws.com'
  AND ((event_name LIKE 'AddPermission%'
        AND (json_get_str(request_parameters, 'principal') = '*'
             OR regexp_like(coalesce(json_get_str(request_parameters, 'principal'), ''), '^[0-9]{12}$|^arn:aws:iam::[0-9]{12}:')))
    OR event_name LIKE 'UpdateFunctionCode%'
    OR (event_name LIKE 'UpdateFunctionConfiguration%' AND json_get(request_parameters, 'layers') IS NOT NULL
        AND json_length(json_get(request_parameters, 'layers')) > 0))
ORDER BY event_time
