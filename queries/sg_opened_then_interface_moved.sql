-- name: sg_opened_then_interface_moved
-- title: A security group opened, then an interface moved into it
-- severity: high
-- description: A rule letting in peers outside the trusted networks added to a security group,
--   and within `within` an interface (or an instance) put into that group: the two steps of
--   exposing a host through a group that looked harmless while no interface used it. Read from
--   the security-group model (sg_changes: the opening's risk, and each move's groups before and
--   after, from inventory, Config and CloudTrail). See sg_verdicts for the traffic after the move.
-- attack: T1562.007
-- attack_v19: T1686.001
-- param: within duration 24h Longest time from the opening to the move
WITH openings AS (
  -- Openings to outside peers; on a group no interface is in yet (`unused_group`, no risk by
  -- itself), told by the peer the call names.
  SELECT event_time, event_id, group_id, actor_arn, opened_text, risk_reasons
  FROM sg_changes
  WHERE succeeded AND group_id IS NOT NULL AND event_name LIKE 'Authorize%' AND opened_text IS NOT NULL
    AND (strpos(risk_reasons, 'world_open_cidr') > 0 OR strpos(risk_reasons, 'untrusted_source') > 0
         OR (strpos(risk_reasons, 'unused_group') > 0
             AND NOT coalesce(is_private_ip(split_part(coalesce(cidr_block, ipv6_cidr_block), '/', 1)), true)))
),
created AS (
  SELECT group_id, event_time FROM sg_changes WHERE succeeded AND event_name = 'CreateSecurityGroup'
),
moves AS (
  -- One row per group an interface holds after a move.
  SELECT event_time, event_id, interface_id, instance_id, groups_before, groups_after, actor_arn, risk_reasons,
         unnest(string_to_array(groups_after, ', ')) AS group_id
  FROM sg_changes
  WHERE succeeded AND event_name IN ('ModifyNetworkInterfaceAttribute', 'ModifyInstanceAttribute')
    AND groups_after IS NOT NULL
)
SELECT o.event_time AS opened_at, m.event_time AS moved_at, o.group_id, o.opened_text AS opened,
       m.interface_id, m.instance_id, m.groups_before, m.groups_after,
       o.actor_arn AS opened_by, m.actor_arn AS moved_by, m.risk_reasons AS move_risk_reasons,
       o.event_id AS opening_event_id, m.event_id AS move_event_id
FROM openings o
JOIN moves m ON m.group_id = o.group_id
LEFT JOIN created c ON c.group_id = o.group_id
WHERE m.event_time >= o.event_time AND m.event_time <= o.event_time + $within
  -- The group was not among the interface's groups before the move: known from its groups
  -- before, or, where those are not in the evidence, because the group was created in the
  -- evidence before the opening (a new group holds no interface until one is put in it).
  AND ((m.groups_before IS NOT NULL AND strpos(', ' || m.groups_before || ', ', ', ' || o.group_id || ', ') = 0)
       OR (m.groups_before IS NULL AND c.event_time IS NOT NULL AND c.event_time <= o.event_time))
ORDER BY m.event_time, o.event_time
