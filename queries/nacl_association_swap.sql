-- name: nacl_association_swap
-- title: Subnets moved to another Network ACL
-- severity: medium
-- description: ReplaceNetworkAclAssociation calls: a subnet put under another ACL changes every
--   rule that governs it at once, and the event itself names only the new ACL. The subnet and
--   the ACL it left come from the topology (acl_associations: inventory, earlier events, or
--   inferred from the subnet's own flows, with the evidence named in learned_from).
-- attack: T1562.007
-- attack_v19: T1686.001
SELECT c.event_time, c.account_id, c.aws_region, c.subnet_id, c.association_id,
       prev.network_acl_id AS previous_acl, prev.learned_from AS previous_acl_learned_from,
       c.network_acl_id AS new_acl, c.risk_reasons, c.succeeded, c.error_code,
       c.actor_arn, c.source_ip, c.user_agent, c.event_id
FROM nacl_changes c
LEFT JOIN acl_associations prev
  ON prev.subnet_id = c.subnet_id AND prev.valid_to = c.event_time AND prev.network_acl_id <> c.network_acl_id
WHERE c.event_name = 'ReplaceNetworkAclAssociation'
ORDER BY c.event_time
