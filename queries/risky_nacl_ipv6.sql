-- name: risky_nacl_ipv6
-- title: IPv6 Network ACL entries open to the world
-- severity: high
-- description: NACL entries (either direction) on an IPv6 range that allow ::/0 or a wide
--   IPv6 range, all protocols or a wide port span. IPv6 rules are easy to overlook when the
--   IPv4 rules are reviewed: ::/0 is as open as 0.0.0.0/0.
-- attack: T1562.007
-- attack_v19: T1686.001
-- param: max_prefix int 32 Ranges with a prefix this short or shorter count as wide (::/0 always)
SELECT event_time, account_id, aws_region, network_acl_id, event_name, rule_number,
       CASE WHEN egress THEN 'egress' ELSE 'ingress' END AS direction, rule_action,
       protocol_name(protocol) AS protocol, ipv6_cidr_block, port_from, port_to,
       risk_score, risk_reasons, succeeded, error_code, actor_arn, source_ip, event_id
FROM nacl_changes
WHERE event_name IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')
  AND ipv6_cidr_block IS NOT NULL
  AND rule_action = 'allow'
  AND (CAST(split_part(ipv6_cidr_block, '/', 2) AS BIGINT) <= $max_prefix
       OR protocol = -1
       OR coalesce(port_to - port_from, 0) >= 1023)
ORDER BY event_time
