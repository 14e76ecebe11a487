-- name: nacl_untrusted_source
-- title: Network ACL entries allowing a source outside the trusted networks
-- severity: medium
-- description: Allow entries whose range is neither RFC 1918 nor a VPC range of the evidence
--   (nor one of the extra trusted ranges given), other than the whole internet, which
--   risky_nacl_ingress reports: a single outside address or block let in on purpose is worth a
--   look (whose address is it?).
-- attack: T1562.007
-- attack_v19: T1686.001
-- param: trusted text '' Extra trusted ranges, comma-separated (e.g. 198.51.100.0/24)
WITH extra AS (
  SELECT trim(unnest(string_to_array($trusted, ','))) AS net
)
SELECT c.event_time, c.account_id, c.aws_region, c.network_acl_id, c.event_name, c.rule_number,
       CASE WHEN c.egress THEN 'egress' ELSE 'ingress' END AS direction,
       protocol_name(c.protocol) AS protocol, coalesce(c.cidr_block, c.ipv6_cidr_block) AS cidr,
       c.port_from, c.port_to, c.risk_reasons, c.actor_arn, c.source_ip, c.event_id
FROM nacl_changes c
WHERE c.event_name IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')
  AND c.rule_action = 'allow'
  AND c.succeeded
  AND strpos(c.risk_reasons, 'untrusted_source') > 0
  AND NOT EXISTS (
    SELECT 1 FROM extra e
    WHERE e.net <> '' AND cidr_contains(e.net, split_part(coalesce(c.cidr_block, c.ipv6_cidr_block), '/', 1))
  )
ORDER BY c.event_time
