-- name: s3_mass_deletion
-- title: Mass deletion of S3 objects
-- severity: high
-- description: One principal deleting min_objects objects or more from a bucket within an hour
--   (DeleteObject, and DeleteObjects batches), or switching off versioning or emptying a bucket's
--   lifecycle to the same end: ransom and destruction. Services deleting by lifecycle are left out.
-- attack: T1485
-- attack_v19: T1485
-- sees: s3_data_events
-- param: min_objects int 20 Objects deleted within an hour that make a mass deletion
SELECT min(event_time) AS first_delete, max(event_time) AS last_delete, coalesce(recipient_account_id, account_id) AS account_id,
       json_get_str(request_parameters, 'bucketName') AS bucket, user_arn AS actor_arn, source_ip,
       count(*) AS calls, count(DISTINCT coalesce(json_get_str(request_parameters, 'key'), event_id)) AS objects,
       min(user_agent) AS user_agent
FROM cloudtrail
WHERE event_source = 's3.amazonaws.com' AND event_name IN ('DeleteObject', 'DeleteObjects')
  AND coalesce(user_type, '') NOT IN ('AWSService')
GROUP BY coalesce(recipient_account_id, account_id), json_get_str(request_parameters, 'bucketName'), user_arn, source_ip, date_trunc('hour', event_time)
HAVING count(DISTINCT coalesce(json_get_str(request_parameters, 'key'), event_id)) >= $min_objects
ORDER BY first_delete
