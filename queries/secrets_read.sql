-- name: secrets_read
-- title: Secrets and encrypted parameters read in bulk, or by people
-- severity: medium
-- description: Secrets Manager GetSecretValue / BatchGetSecretValue and Systems Manager
--   GetParameter(s) with decryption, per principal, address and hour: reported when a principal
--   reads min_secrets different secrets or more in an hour, or when a person (an IAM user or root)
--   reads any. Applications read their own few secrets all day; a sweep of many is collection.
-- attack: T1555.006
-- attack_v19: T1555.006
-- param: min_secrets int 3 Different secrets in an hour that make a sweep
WITH reads AS (
  SELECT event_time, account_id, user_arn, user_type, source_ip, user_agent, event_name, error_code,
         coalesce(json_get_str(request_parameters, 'secretId'), json_get_str(request_parameters, 'name'),
                  CAST(json_get(request_parameters, 'secretIdList') AS VARCHAR), CAST(json_get(request_parameters, 'names') AS VARCHAR),
                  CAST(json_get(request_parameters, 'filters') AS VARCHAR)) AS secret
  FROM cloudtrail
  WHERE (event_source = 'secretsmanager.amazonaws.com' AND event_name IN ('GetSecretValue', 'BatchGetSecretValue'))
     OR (event_source = 'ssm.amazonaws.com' AND event_name IN ('GetParameter', 'GetParameters', 'GetParametersByPath')
         AND json_get_bool(request_parameters, 'withDecryption'))
)
SELECT min(event_time) AS first_read, max(event_time) AS last_read, account_id, user_arn AS actor_arn, user_type,
       source_ip, count(*) AS reads, count(DISTINCT secret) AS secrets,
       sum(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS failed,
       array_to_string(array_slice(array_sort(array_agg(DISTINCT secret)), 1, 10), ', ') AS which,
       min(user_agent) AS user_agent
FROM reads
GROUP BY account_id, user_arn, user_type, source_ip, date_trunc('hour', event_time)
HAVING count(DISTINCT secret) >= $min_secrets OR user_type IN ('IAMUser', 'Root')
ORDER BY first_read
