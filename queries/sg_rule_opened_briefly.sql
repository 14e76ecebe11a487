-- name: sg_rule_opened_briefly
-- title: Security-group rules opened and closed again within minutes
-- severity: medium
-- description: A rule letting in (or out to) peers outside the private ranges that held for
--   less than `within`: added by a call and gone again by a revoke, a modification or the
--   group's deletion. Attackers open a path for one job and close it to leave less to see;
--   detonation tools do the same. Read from sg_rules (each rule over the interval it held) and
--   the calls that opened and closed it.
-- attack: T1562.007
-- attack_v19: T1686.001
-- param: within duration 30m Longest time the rule held
WITH brief AS (
  SELECT group_id, vpc_id, rule_id, egress, protocol, port_from, port_to,
         coalesce(cidr_block, ipv6_cidr_block, referenced_group_id, prefix_list_id) AS peer,
         learned_from, valid_from, valid_to
  FROM sg_rules
  WHERE valid_from IS NOT NULL AND valid_to IS NOT NULL
    AND valid_to <= valid_from + $within
    AND learned_from LIKE 'cloudtrail %'
    AND coalesce(cidr_block, ipv6_cidr_block) IS NOT NULL
    AND NOT coalesce(is_private_ip(split_part(coalesce(cidr_block, ipv6_cidr_block), '/', 1)), false)
)
SELECT b.valid_from AS opened_at, b.valid_to AS closed_at,
       CAST(arrow_cast(b.valid_to, 'Int64') - arrow_cast(b.valid_from, 'Int64') AS BIGINT) / 1000000 AS held_seconds,
       b.group_id, CASE WHEN b.egress THEN 'egress' ELSE 'ingress' END AS direction,
       CASE WHEN b.protocol = -1 THEN 'all' ELSE protocol_name(b.protocol) END AS protocol,
       b.port_from, b.port_to, b.peer, b.rule_id,
       o.actor_arn AS opened_by, c.event_name AS closed_by_call, c.actor_arn AS closed_by,
       o.event_id AS opening_event_id, c.event_id AS closing_event_id
FROM brief b
LEFT JOIN sg_changes o
  ON o.group_id = b.group_id AND o.event_time = b.valid_from AND o.succeeded AND o.event_name LIKE 'Authorize%'
LEFT JOIN sg_changes c
  ON c.group_id = b.group_id AND c.event_time = b.valid_to AND c.succeeded
 AND c.event_name IN ('RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'ModifySecurityGroupRules',
                      'DeleteSecurityGroup')
ORDER BY b.valid_from, b.group_id
