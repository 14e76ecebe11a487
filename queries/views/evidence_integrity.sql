-- Evidence integrity: the evidence checked against the CloudTrail digest files it holds.
--
-- Each digest names the log files its trail delivered in an hour, with the SHA-256 of their
-- uncompressed content, and the digest before it, with the SHA-256 of that digest's uncompressed
-- content. One row per thing a digest names, and per trail log file no digest names:
--   ok / altered / missing / unreadable   a log file a digest names: found with the same hash,
--                                         found with another, not in the evidence, not readable
--   chain_ok / chain_break                the previous digest, found with the hash the next one
--                                         records, or with another
--   previous_digest_not_in_evidence       the chain reaches back past the evidence
--   not_covered                           a trail log file in the evidence that no digest of its
--                                         account and region names, though digests cover its time
--   signature_ok / signature_invalid      a digest's signature (which the next digest records as
--                                         its previousDigestSignature), checked with the public
--                                         key of its fingerprint (`aws cloudtrail list-public-keys`
--                                         output in the evidence)
--   signature_not_verified                no public key of that fingerprint in the evidence
--   signature_not_in_evidence             the newest digest: its signature is in its S3 object's
--                                         metadata, which an evidence folder does not keep
-- Files are matched by their name (the last part of the S3 key), wherever the evidence holds them.
WITH files AS (
  SELECT regexp_replace(source_file, '^.*[/!]', '') AS name,
         min(source_file) AS source_file, max(content_sha256) AS content_sha256,
         max(account_id) AS account_id, max(region) AS region,
         min(first_time) AS first_time, max(last_time) AS last_time
  FROM ingested_files
  WHERE strpos(source_file, '_CloudTrail_') > 0
  GROUP BY 1
),
digests AS (
  SELECT DISTINCT digest_file, regexp_replace(digest_s3_object, '^.*/', '') AS name, account_id, region,
         digest_start_time, digest_end_time, digest_sha256, digest_s3_bucket, digest_s3_object,
         digest_end_text, public_key_fingerprint, previous_digest_signature
  FROM cloudtrail_digests WHERE entry = 'digest'
),
named AS (
  SELECT account_id, region, digest_file, digest_s3_object, digest_end_time, entry, s3_object, hash_value,
         previous_digest_signature,
         regexp_replace(s3_object, '^.*/', '') AS name
  FROM cloudtrail_digests WHERE entry IN ('log_file', 'previous_digest')
),
logs AS (
  SELECT n.account_id, n.region,
         CASE WHEN f.name IS NULL THEN 'missing'
              WHEN f.content_sha256 IS NULL THEN 'unreadable'
              WHEN f.content_sha256 = n.hash_value THEN 'ok'
              ELSE 'altered' END AS status,
         n.s3_object AS object, f.source_file, n.digest_s3_object AS digest_object, n.digest_file,
         n.hash_value AS expected_sha256, f.content_sha256 AS actual_sha256, n.digest_end_time AS time
  FROM named n LEFT JOIN files f ON f.name = n.name
  WHERE n.entry = 'log_file'
),
chain AS (
  SELECT n.account_id, n.region,
         CASE WHEN d.name IS NULL THEN 'previous_digest_not_in_evidence'
              WHEN d.digest_sha256 = n.hash_value THEN 'chain_ok'
              ELSE 'chain_break' END AS status,
         n.s3_object AS object, d.digest_file AS source_file, n.digest_s3_object AS digest_object, n.digest_file,
         n.hash_value AS expected_sha256, d.digest_sha256 AS actual_sha256, n.digest_end_time AS time
  FROM named n LEFT JOIN digests d ON d.name = n.name
  WHERE n.entry = 'previous_digest'
),
spans AS (
  SELECT account_id, region, min(digest_start_time) AS from_t, max(digest_end_time) AS to_t
  FROM digests GROUP BY account_id, region
),
not_covered AS (
  SELECT f.account_id, f.region, 'not_covered' AS status, f.name AS object, f.source_file,
         CAST(NULL AS VARCHAR) AS digest_object, CAST(NULL AS VARCHAR) AS digest_file, CAST(NULL AS VARCHAR) AS expected_sha256,
         f.content_sha256 AS actual_sha256, f.first_time AS time
  FROM files f JOIN spans s ON s.account_id = f.account_id AND s.region = f.region
  -- A file is named by the digest of the hour it was delivered in, some minutes after its last
  -- event: one whose events end an hour before the last digest's end should be named.
  WHERE f.first_time >= s.from_t AND f.last_time < s.to_t - INTERVAL '1 hour'
    AND f.name NOT IN (SELECT name FROM named WHERE entry = 'log_file')
),
public_keys AS (
  SELECT resource_id AS fingerprint, max(json_get_str(item, 'Value')) AS public_key
  FROM inventory WHERE kind = 'cloudtrail_public_keys' GROUP BY 1
),
signed AS (
  -- The text a digest's signature signs (AWS: digestEndTime, bucket/object, the SHA-256 of the
  -- digest's content, the previous digest's signature or "null", a line each).
  SELECT d.account_id, d.region, d.digest_s3_object AS object, d.digest_file AS source_file, d.digest_end_time AS time,
         d.digest_end_text || chr(10) || d.digest_s3_bucket || '/' || d.digest_s3_object || chr(10) || d.digest_sha256
           || chr(10) || coalesce(d.previous_digest_signature, 'null') AS message,
         n.previous_digest_signature AS signature, k.public_key
  FROM digests d
  LEFT JOIN named n ON n.entry = 'previous_digest' AND n.name = d.name
  LEFT JOIN public_keys k ON k.fingerprint = d.public_key_fingerprint
),
signatures AS (
  SELECT account_id, region,
         CASE WHEN signature IS NULL THEN 'signature_not_in_evidence'
              WHEN public_key IS NULL THEN 'signature_not_verified'
              WHEN rsa_sha256_verify(public_key, signature, message) THEN 'signature_ok'
              ELSE 'signature_invalid' END AS status,
         object, source_file, object AS digest_object, source_file AS digest_file,
         CAST(NULL AS VARCHAR) AS expected_sha256, CAST(NULL AS VARCHAR) AS actual_sha256, time
  FROM signed
)
SELECT account_id, region, status, object, source_file, digest_object, digest_file, expected_sha256, actual_sha256, time
FROM (SELECT * FROM logs UNION ALL SELECT * FROM chain UNION ALL SELECT * FROM not_covered UNION ALL SELECT * FROM signatures)
ORDER BY account_id, region, time, object
