-- name: dns_and_log_groups_deleted
-- title: DNS query logging and CloudWatch log groups deleted
-- severity: high
-- description: Route 53 Resolver query logging removed (DeleteResolverQueryLogConfig,
--   DisassociateResolverQueryLogConfig) and CloudWatch Logs groups or streams deleted: the
--   records that would show where instances connected and what services logged are gone.
-- attack: T1562.008, T1070
-- attack_v19: T1685.002, T1070
SELECT event_time, account_id, aws_region, event_name,
       coalesce(json_get_str(request_parameters, 'resolverQueryLogConfigId'), json_get_str(request_parameters, 'logGroupName')) AS target,
       json_get_str(request_parameters, 'logStreamName') AS log_stream,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE (event_source = 'route53resolver.amazonaws.com' AND event_name IN ('DeleteResolverQueryLogConfig', 'DisassociateResolverQueryLogConfig'))
   OR (event_source = 'logs.amazonaws.com' AND event_name IN ('DeleteLogGroup', 'DeleteLogStream'))
ORDER BY event_time
