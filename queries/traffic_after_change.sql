-- name: traffic_after_change
-- title: Traffic a Network ACL change newly let in
-- severity: critical
-- description: The NACL changes whose verdict is unusual_traffic_after_change: flows on the
--   interfaces the ACL governed, that the new rules allow and the old ones did not, from peers
--   that were rejected before or never seen (queries/correlate.sql, over nacl_verdicts). Each
--   row names the actor, the attacker peers, the bytes and the first and last flow.
-- attack: T1562.007, T1190
-- attack_v19: T1686.001, T1190
-- param: min_bytes int 0 Least bytes newly let in for a change to count
SELECT event_time, network_acl_id, event_name, actor_arn, verdict, score, risk_reasons,
       unusual_peers, reject_to_accept_peers, matching_flows, bytes, distinct_ports, top_peers,
       first_flow, last_flow, interface_list, rule_number, egress, cidr_block, port_from, port_to, event_id
FROM nacl_verdicts
WHERE verdict = 'unusual_traffic_after_change' AND bytes >= $min_bytes
ORDER BY event_time
