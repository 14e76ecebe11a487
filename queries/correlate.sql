-- correlate: which Network ACL change let in which traffic.
--
-- One row per NACL change (nacl_changes) with its verdict and the evidence. The parameters are
-- whole numbers of microseconds, filled in by `trailflow correlate`:
--   {window_us}    how long after the change flows are looked at (default 24 hours)
--   {baseline_us}  how long before the change the baseline reaches (default 24 hours)
--
-- The semantics (PRODUCT.md section 5):
-- * Scope: only the interfaces of the subnets the ACL governed at the moment of the change
--   (acl_associations at that time; for ReplaceNetworkAclAssociation, the moved subnet).
--   Traffic in another VPC or subnet is no evidence.
-- * Only what the change newly allows: a flow counts when the ACL's rules after the change allow
--   it (acl_allows over rules_after) and the rules before did not (rules_before). Traffic that was
--   already allowed is no evidence. When the rules before are not fully known (a deleted or
--   replaced entry the evidence never showed, or the earlier ACL of a moved subnet), a flow counts
--   only if its peer was REJECTed in the baseline: that is what a removed deny used to block.
-- * Unusual: a peer outside the private ranges (is_private_ip) whose newly allowed traffic was
--   REJECTed in the baseline, or, never seen in the baseline, scans (10+ ports), hammers an admin
--   port (10+ flows to 22 or 3389) or moves volume (100 MB+).
-- * A failed call is no evidence against anyone: its verdict is failed_change.
WITH ch AS (
  SELECT *, arrow_cast(event_time, 'Int64') AS t FROM nacl_changes
),
rules AS (
  -- The rule sets as dictionaries: joined to every flow group, they travel as small keys, and
  -- acl_allows reads each set once.
  SELECT event_id, arrow_cast(rules_after, 'Dictionary(Int32, Utf8)') AS rules_after,
         arrow_cast(rules_before, 'Dictionary(Int32, Utf8)') AS rules_before
  FROM nacl_changes
),
ifaces AS (
  SELECT DISTINCT interface_id, subnet_id, private_ip FROM network_interfaces
  WHERE subnet_id IS NOT NULL AND private_ip IS NOT NULL
),
scope AS (
  SELECT DISTINCT ch.event_id, i.interface_id, i.private_ip
  FROM ch
  JOIN acl_associations a
    ON a.network_acl_id = ch.network_acl_id
   AND (a.valid_from IS NULL OR a.valid_from <= ch.event_time)
   AND (a.valid_to IS NULL OR a.valid_to > ch.event_time)
   AND (ch.event_name <> 'ReplaceNetworkAclAssociation' OR a.subnet_id = ch.subnet_id)
  JOIN ifaces i ON i.subnet_id = a.subnet_id
  WHERE ch.succeeded
),
flows AS (
  -- Flows on the interfaces in scope, from the baseline to the end of the window, folded per
  -- peer, direction, protocol, port and side of the change (rules are judged once per group).
  SELECT s.event_id,
         CASE WHEN f.srcaddr = s.private_ip THEN f.dstaddr ELSE f.srcaddr END AS peer,
         f.srcaddr = s.private_ip AS egress,
         f.protocol, f.dstport, f.action,
         arrow_cast(f.start_time, 'Int64') >= ch.t AS after,
         count(*) AS n, sum(f.bytes) AS bytes, min(f.start_time) AS first_t, max(f.start_time) AS last_t
  FROM scope s
  JOIN ch ON ch.event_id = s.event_id
  JOIN flow_logs f ON f.interface_id = s.interface_id
  WHERE (f.srcaddr = s.private_ip OR f.dstaddr = s.private_ip)
    -- An entry governs one direction: only flows in that direction (into the interface for an
    -- ingress entry, out of it for an egress one); other changes see both.
    AND (ch.egress IS NULL OR ch.egress = (f.srcaddr = s.private_ip))
    AND arrow_cast(f.start_time, 'Int64') >= ch.t - {baseline_us}
    AND arrow_cast(f.start_time, 'Int64') < ch.t + {window_us}
  GROUP BY 1, 2, 3, 4, 5, 6, 7
),
judged AS (
  SELECT fl.*,
         acl_allows(r.rules_after, fl.egress, fl.protocol, fl.peer, fl.dstport) AS allowed_after,
         acl_allows(r.rules_before, fl.egress, fl.protocol, fl.peer, fl.dstport) AS allowed_before
  FROM flows fl JOIN rules r ON r.event_id = fl.event_id
),
peers AS (
  SELECT event_id, peer,
         bool_or(NOT after AND action = 'REJECT') AS rejected_before,
         bool_or(NOT after) AS seen_before,
         bool_or(after AND action = 'ACCEPT' AND allowed_after AND allowed_before = false) AS newly,
         bool_or(after AND action = 'ACCEPT' AND allowed_after IS NOT false AND allowed_before IS NULL) AS maybe,
         sum(CASE WHEN after AND action = 'ACCEPT' THEN n ELSE 0 END) AS flows_after,
         sum(CASE WHEN after AND action = 'ACCEPT' THEN bytes ELSE 0 END) AS bytes_after,
         sum(CASE WHEN after AND action = 'ACCEPT' AND dstport IN (22, 3389) THEN n ELSE 0 END) AS admin_flows,
         min(CASE WHEN after AND action = 'ACCEPT' THEN first_t END) AS first_flow,
         max(CASE WHEN after AND action = 'ACCEPT' THEN last_t END) AS last_flow,
         -- Distinct ports the peer reached after the change (a scan shows as many).
         count(DISTINCT CASE WHEN after AND action = 'ACCEPT' THEN dstport END) AS ports_after
  FROM judged
  GROUP BY event_id, peer
),
evidence AS (
  SELECT peers.*,
         (newly OR (maybe AND rejected_before)) AS counts,
         NOT coalesce(is_private_ip(peer), false)
           AND (((newly OR maybe) AND rejected_before)
                OR (newly AND NOT seen_before AND (bytes_after >= 100000000 OR ports_after >= 10 OR admin_flows >= 10)))
           AS unusual
  FROM peers
),
per_change AS (
  SELECT event_id,
         sum(CASE WHEN counts THEN flows_after ELSE 0 END) AS matching_flows,
         sum(CASE WHEN counts THEN bytes_after ELSE 0 END) AS bytes,
         sum(CASE WHEN counts AND NOT seen_before THEN 1 ELSE 0 END) AS new_peers,
         array_to_string(array_sort(array_agg(peer) FILTER (WHERE counts AND rejected_before)), ', ') AS reject_to_accept_peers,
         sum(CASE WHEN unusual THEN 1 ELSE 0 END) AS unusual_peers,
         array_to_string(array_sort(array_agg(peer) FILTER (WHERE unusual)), ', ') AS unusual_peer_list,
         max(CASE WHEN counts THEN ports_after END) AS distinct_ports,
         min(CASE WHEN counts THEN first_flow END) AS first_flow,
         max(CASE WHEN counts THEN last_flow END) AS last_flow,
         -- The five peers with the most bytes of counted traffic.
         array_to_string(array_slice(array_agg(peer || ' ' || bytes_after ORDER BY bytes_after DESC, peer)
                                       FILTER (WHERE counts), 1, 5), ', ') AS top_peers
  FROM evidence
  GROUP BY event_id
),
in_scope AS (
  SELECT event_id, count(DISTINCT interface_id) AS interfaces, array_to_string(array_sort(array_agg(DISTINCT interface_id)), ', ') AS interface_list
  FROM scope GROUP BY event_id
)
SELECT ch.event_id, ch.event_time, ch.event_name, ch.network_acl_id, ch.actor_arn,
       CASE WHEN NOT ch.succeeded THEN 'failed_change'
            WHEN coalesce(p.unusual_peers, 0) > 0 THEN 'unusual_traffic_after_change'
            WHEN ch.risk_score > 0 THEN 'risky_change_no_unusual_traffic'
            ELSE 'change_no_unusual_traffic' END AS verdict,
       CAST(least(100, ch.risk_score / 2 + CASE WHEN ch.succeeded THEN least(60, 30 * coalesce(p.unusual_peers, 0)) ELSE 0 END) AS BIGINT) AS score,
       ch.risk_score, ch.risk_reasons,
       coalesce(s.interfaces, 0) AS interfaces_in_scope, s.interface_list,
       coalesce(p.matching_flows, 0) AS matching_flows, coalesce(p.bytes, 0) AS bytes,
       coalesce(p.new_peers, 0) AS new_peers, p.reject_to_accept_peers, p.unusual_peer_list AS unusual_peers,
       p.distinct_ports, p.top_peers, p.first_flow, p.last_flow,
       ch.rule_number, ch.egress, ch.rule_action, ch.protocol, ch.cidr_block, ch.port_from, ch.port_to,
       ch.subnet_id, ch.error_code
FROM ch
LEFT JOIN per_change p ON p.event_id = ch.event_id
LEFT JOIN in_scope s ON s.event_id = ch.event_id
ORDER BY ch.event_time, ch.event_id
