-- name: model_access_enabled
-- title: Generative AI model access enabled or invoked by unusual principals
-- severity: medium
-- description: Bedrock model access turned on (PutUseCaseForModelAccess,
--   PutFoundationModelEntitlement, CreateFoundationModelAgreement) and models invoked by IAM
--   users or from outside addresses: stolen keys are sold for "LLMjacking", the victim pays for
--   the tokens.
-- attack: T1496
-- attack_v19: T1496
SELECT min(event_time) AS first_call, max(event_time) AS last_call, account_id, aws_region,
       user_arn AS actor_arn, source_ip, count(*) AS calls,
       array_to_string(array_sort(array_agg(DISTINCT regexp_replace(event_name, '20[0-9]{6}v?[0-9]*$', ''))), ', ') AS actions,
       array_to_string(array_sort(array_agg(DISTINCT json_get_str(request_parameters, 'modelId'))), ', ') AS models,
       min(user_agent) AS user_agent
FROM cloudtrail
WHERE event_source = 'bedrock.amazonaws.com'
  AND (event_name IN ('PutUseCaseForModelAccess', 'PutFoundationModelEntitlement', 'CreateFoundationModelAgreement')
       OR (event_name IN ('InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream') AND user_type IN ('IAMUser', 'Root')))
GROUP BY account_id, aws_region, user_arn, source_ip, date_trunc('day', event_time)
ORDER BY first_call
