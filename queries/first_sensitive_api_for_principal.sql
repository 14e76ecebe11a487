-- name: first_sensitive_api_for_principal
-- title: A principal's first use of a sensitive API
-- severity: low
-- description: The first time a principal with a history in the evidence (active for at least
--   baseline, with min_events calls) makes a change through an API that grants rights, makes
--   credentials, touches logging or security services, or opens the network (IAM, STS federation,
--   KMS, Organizations, CloudTrail, Config, GuardDuty, Security Hub, Secrets Manager, SSM
--   commands, Lambda permissions and code, S3 policies and ACLs, EC2 firewall rules and instance
--   attributes). New behaviour, not proof: read it beside the actor's other calls.
-- attack: T1078.004
-- attack_v19: T1078.004
-- param: baseline duration 12h How long a principal must have been seen before a new API counts
-- param: min_events int 10 Calls a principal must have made before
WITH ev AS (
  SELECT user_arn, event_source, event_name, event_time, source_ip, read_only, error_code, event_id
  FROM cloudtrail
  WHERE user_arn IS NOT NULL AND coalesce(user_type, '') NOT IN ('AWSService', 'AWSAccount')
),
principal AS (
  SELECT user_arn, min(event_time) AS since FROM ev GROUP BY user_arn
),
sensitive AS (
  SELECT * FROM ev
  WHERE read_only IS DISTINCT FROM true
    AND (event_source IN ('iam.amazonaws.com', 'kms.amazonaws.com', 'organizations.amazonaws.com', 'cloudtrail.amazonaws.com',
                          'config.amazonaws.com', 'guardduty.amazonaws.com', 'securityhub.amazonaws.com', 'secretsmanager.amazonaws.com')
      OR (event_source = 'sts.amazonaws.com' AND event_name IN ('GetFederationToken'))
      OR (event_source = 'ssm.amazonaws.com' AND event_name IN ('SendCommand', 'StartSession'))
      OR (event_source = 'lambda.amazonaws.com' AND (event_name LIKE 'AddPermission%' OR event_name LIKE 'UpdateFunctionCode%'))
      OR (event_source = 's3.amazonaws.com' AND regexp_like(event_name, '^(PutBucketPolicy|PutBucketAcl|DeleteBucketPolicy|PutBucketPublicAccessBlock|DeleteBucketPublicAccessBlock)$'))
      OR (event_source = 'ec2.amazonaws.com' AND regexp_like(event_name, '^(Authorize|Revoke|CreateNetworkAcl|ReplaceNetworkAcl|DeleteNetworkAcl|ModifyInstanceAttribute|ModifySnapshotAttribute|ModifyImageAttribute|DeleteFlowLogs|ImportKeyPair|EnableSerialConsoleAccess)')))
),
firsts AS (
  SELECT user_arn, event_name, min(event_time) AS first_time FROM sensitive GROUP BY user_arn, event_name
),
before AS (
  SELECT f.user_arn, f.event_name, count(*) AS calls_before
  FROM firsts f JOIN ev e ON e.user_arn = f.user_arn AND e.event_time < f.first_time
  GROUP BY f.user_arn, f.event_name
)
SELECT s.event_time, s.user_arn AS actor_arn, s.event_source, s.event_name, b.calls_before,
       CASE WHEN s.error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || s.error_code END AS outcome,
       s.source_ip, s.event_id
FROM sensitive s
JOIN firsts f ON f.user_arn = s.user_arn AND f.event_name = s.event_name AND f.first_time = s.event_time
JOIN principal p ON p.user_arn = s.user_arn
JOIN before b ON b.user_arn = s.user_arn AND b.event_name = s.event_name
WHERE s.event_time >= p.since + $baseline AND b.calls_before >= $min_events
ORDER BY s.event_time
