-- name: logging_change_then_delivery_failures
-- title: A log bucket's access changed, then its deliveries failed
-- severity: high
-- description: A bucket's policy, ACL, ownership controls or public access block changed (or its
--   policy deleted), then the log delivery service's writes to that bucket failed within
--   `within`: flow logs (or other vended logs) stopped landing because of that change, whether
--   by mistake or to blind the responders. The change, who made it and the failures that followed.
-- attack: T1562.008
-- attack_v19: T1685.002
-- param: within duration 1h How long after the change a failed delivery counts
WITH changes AS (
  SELECT event_time, coalesce(recipient_account_id, account_id) AS account_id,
         json_get_str(request_parameters, 'bucketName') AS bucket, user_arn, source_ip, event_name, event_id
  FROM cloudtrail
  WHERE event_source = 's3.amazonaws.com' AND error_code IS NULL
    AND event_name IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketOwnershipControls',
                       'PutBucketPublicAccessBlock')
),
failures AS (
  SELECT event_time, coalesce(recipient_account_id, account_id) AS account_id,
         json_get_str(request_parameters, 'bucketName') AS bucket, error_code
  FROM cloudtrail
  WHERE event_source = 's3.amazonaws.com' AND event_name IN ('PutObject', 'GetBucketAcl', 'GetBucketPolicy')
    AND error_code IS NOT NULL
    AND (invoked_by = 'delivery.logs.amazonaws.com' OR source_ip = 'delivery.logs.amazonaws.com'
         OR user_agent = 'delivery.logs.amazonaws.com' OR strpos(coalesce(principal_id, ''), 'delivery.logs') > 0)
)
SELECT c.event_time AS changed_at, c.account_id, c.bucket, c.user_arn AS actor_arn, c.source_ip, c.event_name,
       min(f.event_time) AS first_failure, count(*) AS failures,
       array_to_string(array_sort(array_agg(DISTINCT f.error_code)), ', ') AS errors, c.event_id
FROM changes c
JOIN failures f ON f.account_id = c.account_id AND f.bucket = c.bucket
 AND f.event_time > c.event_time AND f.event_time <= c.event_time + $within
GROUP BY c.event_time, c.account_id, c.bucket, c.user_arn, c.source_ip, c.event_name, c.event_id
ORDER BY changed_at
