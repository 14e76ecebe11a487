-- name: new_external_peers
-- title: New outside peers with real volume
-- severity: medium
-- description: Outside addresses first seen after the baseline (the first `baseline` of the
--   flow evidence) that then exchanged at least `min_bytes` of accepted traffic. Web clients are
--   new all the time but small; a new peer moving hundreds of megabytes is not. Peers in the AWS
--   services of `ignore_aws_services` are left out (health checkers and the like: AWS's own
--   machinery); `peer_context` says whose each peer is.
-- attack: T1041, T1071
-- attack_v19: T1041, T1071
-- param: baseline duration 12h Start of the evidence that counts as the baseline
-- param: min_bytes int 100000000 Least accepted bytes with the new peer
-- param: ignore_aws_services text ROUTE53_HEALTHCHECKS,ROUTE53_HEALTHCHECKS_PUBLISHING,EC2_INSTANCE_CONNECT,WORKSPACES_GATEWAYS AWS services (names of ip-ranges.json) whose addresses are left out: AWS's own machinery, which no customer can run; EC2, S3, CloudFront, API Gateway and the rest can be an intruder's own and stay
WITH ext AS (
  SELECT CASE WHEN is_private_ip(srcaddr) THEN dstaddr ELSE srcaddr END AS peer,
         interface_id, start_time, bytes, action
  FROM flow_logs
  WHERE log_status = 'OK' AND is_private_ip(srcaddr) <> is_private_ip(dstaddr)
),
t0 AS (SELECT min(start_time) AS evidence_start FROM flow_logs),
per AS (
  SELECT peer, min(start_time) AS first_seen, max(start_time) AS last_seen, count(*) AS flows,
         sum(CASE WHEN action = 'ACCEPT' THEN bytes ELSE 0 END) AS accepted_bytes,
         sum(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS rejected_flows,
         array_to_string(array_sort(array_distinct(array_agg(interface_id))), ', ') AS interfaces
  FROM ext GROUP BY peer
)
SELECT per.first_seen, per.peer, per.accepted_bytes, per.flows, per.rejected_flows, per.last_seen, per.interfaces,
       ip_context(per.peer) AS peer_context
FROM per CROSS JOIN t0
WHERE per.first_seen >= t0.evidence_start + $baseline AND per.accepted_bytes >= $min_bytes
  AND NOT coalesce(array_has(string_to_array($ignore_aws_services, ','), aws_service(per.peer)), false)
ORDER BY per.accepted_bytes DESC, per.peer
