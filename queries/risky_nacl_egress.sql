-- name: risky_nacl_egress
-- title: Outbound Network ACL entries opened to the world
-- severity: high
-- description: Outbound (egress) NACL entries created or replaced that let traffic leave to
--   addresses outside the trusted networks, or on all protocols or a wide port span: the
--   opening an exfiltration or a callback needs. IPv4 and IPv6.
-- attack: T1562.007, T1048
-- attack_v19: T1686.001, T1048
-- param: min_score int 25 Lowest risk score that counts (egress_opening alone weighs 25)
SELECT event_time, account_id, aws_region, network_acl_id, event_name, rule_number, rule_action,
       protocol_name(protocol) AS protocol, coalesce(cidr_block, ipv6_cidr_block) AS destination,
       port_from, port_to, risk_score, risk_reasons, succeeded, error_code,
       actor_arn, source_ip, user_agent, event_id
FROM nacl_changes
WHERE event_name IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry')
  AND egress = true
  AND rule_action = 'allow'
  AND risk_score >= $min_score
ORDER BY event_time
