-- name: evidence_integrity_problems
-- title: CloudTrail log files altered, missing or outside the digest chain
-- severity: high
-- description: The evidence checked against the CloudTrail digest files it holds (the view
--   evidence_integrity): log files whose content no longer has the SHA-256 their digest records
--   (altered), files a digest names that are not in the evidence (missing: removed from the
--   bucket, or not handed over), trail log files no digest names though digests cover their time
--   (not_covered: planted, or from another trail), and digests whose predecessor is not the file the
--   next digest records (chain_break), and digests whose signature does not verify with AWS's
--   public key for it (signature_invalid; keys from `aws cloudtrail list-public-keys` output in
--   the evidence). Nothing is listed when the evidence holds no digest files.
-- attack: T1562.008, T1070
-- attack_v19: T1685.002, T1070
SELECT account_id, region, status, object, source_file, digest_object, expected_sha256, actual_sha256, time
FROM evidence_integrity
WHERE status IN ('altered', 'missing', 'unreadable', 'not_covered', 'chain_break', 'signature_invalid')
ORDER BY account_id, region, time, object
