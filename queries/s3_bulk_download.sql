-- name: s3_bulk_download
-- title: Bulk reads of S3 objects
-- severity: high
-- description: One principal reading min_objects objects or more from a bucket within an hour
--   (S3 data events, where the trail records them): a copy of the bucket leaving. Services
--   reading for themselves are left out, and so are reads of AWS's own log files (keys under
--   AWSLogs/ACCOUNT/CloudTrail, CloudTrail-Digest, vpcflowlogs, Config, elasticloadbalancing):
--   that is the evidence being collected, often for this very case, not data leaving.
-- attack: T1530
-- attack_v19: T1530
-- sees: s3_data_events
-- param: min_objects int 20 Objects read within an hour that make a bulk read
SELECT min(event_time) AS first_read, max(event_time) AS last_read, coalesce(recipient_account_id, account_id) AS account_id,
       json_get_str(request_parameters, 'bucketName') AS bucket, user_arn AS actor_arn, source_ip,
       count(*) AS reads, count(DISTINCT json_get_str(request_parameters, 'key')) AS objects,
       sum(CASE WHEN coalesce(is_refusal(error_code), false) THEN 1 ELSE 0 END) AS refused, min(user_agent) AS user_agent
FROM cloudtrail
WHERE event_source = 's3.amazonaws.com' AND event_name = 'GetObject'
  AND coalesce(user_type, '') NOT IN ('AWSService')
  AND NOT coalesce(regexp_like(json_get_str(request_parameters, 'key'),
        '(^|/)AWSLogs/(o-[a-z0-9]+/)?[0-9]{12}/(CloudTrail|CloudTrail-Digest|CloudTrail-Insight|vpcflowlogs|Config|elasticloadbalancing)/'), false)
GROUP BY coalesce(recipient_account_id, account_id), json_get_str(request_parameters, 'bucketName'), user_arn, source_ip, date_trunc('hour', event_time)
HAVING count(DISTINCT json_get_str(request_parameters, 'key')) >= $min_objects
ORDER BY first_read
