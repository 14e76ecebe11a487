-- name: risky_nacl_ingress
-- title: Risky inbound Network ACL entries
-- severity: high
-- description: Inbound NACL entries created or replaced that allow the world (0.0.0.0/0),
--   all protocols, an unusual protocol or a span of 1024 ports or more, with who made them
--   and from where. IPv6 entries have their own hunt (risky_nacl_ipv6). The reasons and the
--   score are those of the nacl_changes table.
-- attack: T1562.007
-- attack_v19: T1686.001
-- param: min_score int 20 Lowest risk score (the sum of the reasons' weights) that counts
SELECT event_time, account_id, aws_region, network_acl_id, event_name, rule_number, rule_action,
       protocol_name(protocol) AS protocol, cidr_block, port_from, port_to,
       risk_score, risk_reasons, succeeded, error_code,
       actor_arn, source_ip, user_agent, event_id
FROM nacl_changes
WHERE event_name IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')
  AND egress = false
  AND rule_action = 'allow'
  AND ipv6_cidr_block IS NULL
  AND risk_score >= $min_score
ORDER BY event_time
