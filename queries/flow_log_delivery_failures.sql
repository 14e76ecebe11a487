-- name: flow_log_delivery_failures
-- title: Flow logs configured but not delivered
-- severity: high
-- description: S3 writes by the log delivery service (delivery.logs.amazonaws.com) that failed,
--   per bucket and day: flow logs (or other vended logs) are configured, and never land. The
--   traffic of that time is not in the evidence, however many flow logs the account lists.
-- attack: T1562.008
-- attack_v19: T1685.002
SELECT min(event_time) AS first_failure, max(event_time) AS last_failure, coalesce(recipient_account_id, account_id) AS account_id,
       json_get_str(request_parameters, 'bucketName') AS bucket, error_code, count(*) AS failures,
       array_to_string(array_slice(array_sort(array_agg(DISTINCT json_get_str(request_parameters, 'key'))), 1, 3), ', ') AS example_keys
FROM cloudtrail
WHERE event_source = 's3.amazonaws.com'
  AND event_name IN ('PutObject', 'GetBucketAcl', 'GetBucketPolicy')
  AND error_code IS NOT NULL
  AND (invoked_by = 'delivery.logs.amazonaws.com' OR source_ip = 'delivery.logs.amazonaws.com'
       OR user_agent = 'delivery.logs.amazonaws.com' OR strpos(coalesce(principal_id, ''), 'delivery.logs') > 0)
GROUP BY coalesce(recipient_account_id, account_id), json_get_str(request_parameters, 'bucketName'), error_code, date_trunc('day', event_time)
ORDER BY first_failure
