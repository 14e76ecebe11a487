-- name: s3_bucket_made_public
-- title: S3 buckets opened to everyone
-- severity: high
-- description: A bucket policy that allows every principal ("*"), an ACL granted to AllUsers or
--   AuthenticatedUsers, or the public access block removed or switched off, on a bucket or the
--   whole account: the data can then be read from anywhere.
-- attack: T1530
-- attack_v19: T1530
SELECT event_time, account_id, aws_region, event_name,
       json_get_str(request_parameters, 'bucketName') AS bucket,
       CASE
         WHEN event_name = 'PutBucketPolicy' THEN 'policy allows everyone'
         WHEN event_name = 'PutBucketAcl' THEN 'ACL grants ' || CASE WHEN strpos(CAST(request_parameters AS VARCHAR), 'AllUsers') > 0 THEN 'AllUsers' ELSE 'AuthenticatedUsers' END
         WHEN event_name LIKE 'Delete%' THEN 'public access block removed'
         ELSE 'public access block switched off'
       END AS what,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source IN ('s3.amazonaws.com', 's3-control.amazonaws.com')
  AND ((event_name = 'PutBucketPolicy'
        AND regexp_like(CAST(request_parameters AS VARCHAR), '"Effect"\s*:\s*"Allow"')
        AND regexp_like(CAST(request_parameters AS VARCHAR), '"Principal"\s*:\s*("\*"|\{\s*"AWS"\s*:\s*(\[\s*)?"\*")'))
    OR (event_name = 'PutBucketAcl'
        AND regexp_like(CAST(request_parameters AS VARCHAR), 'acs.amazonaws.com/groups/global/(AllUsers|AuthenticatedUsers)'))
    OR event_name IN ('DeleteBucketPublicAccessBlock', 'DeleteAccountPublicAccessBlock')
    OR (event_name IN ('PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock')
        AND regexp_like(CAST(request_parameters AS VARCHAR), '"(BlockPublicAcls|IgnorePublicAcls|BlockPublicPolicy|RestrictPublicBuckets)"\s*:\s*false')))
ORDER BY event_time
