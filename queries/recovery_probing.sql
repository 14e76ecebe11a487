-- name: recovery_probing
-- title: A bucket's recovery settings probed or changed by a principal new to it
-- severity: high
-- description: Versioning, Object Lock, lifecycle or replication of a bucket read or changed by
--   a principal new to the bucket (its first call naming the bucket within `recent` before, and
--   at least `recent` into the evidence, so that it could have been seen earlier and was not):
--   can the victim recover what is about to be deleted or encrypted? Ransomware crews ask this
--   first. Reads made through the console (which reads every setting of a bucket it shows), and
--   a principal setting up a bucket it created itself, are left out; changes never are.
-- attack: T1490, T1485
-- attack_v19: T1490, T1485
-- param: recent duration 24h How recently a principal must have first touched the bucket to be new to it
WITH probes AS (
  SELECT event_time, coalesce(recipient_account_id, account_id) AS account_id,
         json_get_str(request_parameters, 'bucketName') AS bucket, user_arn, source_ip, event_name, error_code, user_agent
  FROM cloudtrail
  WHERE event_source = 's3.amazonaws.com' AND user_arn IS NOT NULL
    AND event_name IN ('GetBucketVersioning', 'PutBucketVersioning', 'GetObjectLockConfiguration',
                       'PutObjectLockConfiguration', 'GetBucketLifecycle', 'PutBucketLifecycle', 'DeleteBucketLifecycle',
                       'GetBucketReplication', 'PutBucketReplication', 'DeleteBucketReplication')
    AND json_get_str(request_parameters, 'bucketName') IS NOT NULL
    AND (event_name NOT LIKE 'Get%'
         OR NOT (coalesce(user_agent, '') LIKE '%console%' OR coalesce(user_agent, '') = 'AWS Internal'
                 OR coalesce(source_ip, '') = 'AWS Internal'))
),
first_probe AS (
  SELECT account_id, bucket, user_arn, min(event_time) AS first_probe FROM probes GROUP BY 1, 2, 3
),
first_touch AS (
  -- The principal's first call naming the bucket, whatever it was.
  SELECT f.account_id, f.bucket, f.user_arn, f.first_probe, min(c.event_time) AS first_touch
  FROM first_probe f
  JOIN cloudtrail c ON c.user_arn = f.user_arn AND json_get_str(c.request_parameters, 'bucketName') = f.bucket
   AND c.event_time <= f.first_probe
  GROUP BY 1, 2, 3, 4
),
evidence AS (SELECT min(event_time) AS since FROM cloudtrail),
created AS (
  -- Buckets a principal created itself: reading and setting their settings is building them.
  SELECT DISTINCT coalesce(recipient_account_id, account_id) AS account_id,
         json_get_str(request_parameters, 'bucketName') AS bucket, user_arn
  FROM cloudtrail WHERE event_source = 's3.amazonaws.com' AND event_name = 'CreateBucket' AND error_code IS NULL
)
SELECT min(p.event_time) AS first_probe, max(p.event_time) AS last_probe, p.account_id, p.bucket, p.user_arn AS actor_arn,
       min(t.first_touch) AS first_touch,
       array_to_string(array_sort(array_agg(DISTINCT p.source_ip)), ', ') AS source_ips,
       array_to_string(array_sort(array_agg(DISTINCT p.event_name)), ', ') AS calls,
       sum(CASE WHEN p.event_name NOT LIKE 'Get%' THEN 1 ELSE 0 END) AS changes,
       array_to_string(array_sort(array_agg(DISTINCT p.error_code)), ', ') AS answers
FROM probes p
JOIN first_touch t ON t.account_id = p.account_id AND t.bucket = p.bucket AND t.user_arn = p.user_arn
CROSS JOIN evidence e
LEFT JOIN created b ON b.account_id = p.account_id AND b.bucket = p.bucket AND b.user_arn = p.user_arn
WHERE t.first_probe - t.first_touch <= $recent AND t.first_touch >= e.since + $recent AND b.user_arn IS NULL
GROUP BY p.account_id, p.bucket, p.user_arn
ORDER BY first_probe
