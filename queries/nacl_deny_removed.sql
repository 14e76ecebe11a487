-- name: nacl_deny_removed
-- title: Deny rules removed from Network ACLs
-- severity: high
-- description: A deny entry deleted, or replaced by an allow: what the deny kept out can now
--   reach the subnet. A deleted entry whose content the evidence does not show (it predates the
--   CloudTrail and is gone from the inventory) is listed too, marked as unknown: an attacker
--   removing a block list leaves exactly that trace. See nacl_verdicts for what came in after.
-- attack: T1562.007
-- attack_v19: T1686.001
SELECT event_time, account_id, aws_region, network_acl_id, event_name, rule_number,
       CASE WHEN egress THEN 'egress' ELSE 'ingress' END AS direction,
       CASE WHEN strpos(risk_reasons, 'deny_removed') > 0 AND event_name = 'ReplaceNetworkAclEntry'
              THEN 'deny replaced by allow'
            WHEN strpos(risk_reasons, 'deny_removed') > 0 THEN 'deny deleted'
            ELSE 'entry deleted; its content is not in the evidence' END AS what,
       rule_action, protocol_name(protocol) AS protocol, coalesce(cidr_block, ipv6_cidr_block) AS cidr,
       port_from, port_to, risk_reasons, actor_arn, source_ip, user_agent, event_id
FROM nacl_changes
WHERE succeeded
  AND (strpos(risk_reasons, 'deny_removed') > 0 OR strpos(risk_reasons, 'deleted_entry_unknown') > 0)
ORDER BY event_time
