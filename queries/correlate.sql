-- correlate: which Network ACL change let in which traffic.
--
-- One row per NACL change (nacl_changes) with its verdict and the evidence. The parameters are
-- whole numbers of microseconds, bound as query parameters (as the hunts' are) by the session:
--   $window_us    how long after the change flows are looked at (default 24 hours)
--   $baseline_us  how long before the change the baseline reaches (default 24 hours)
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
  -- Every address an interface held (IPv4 private and secondary, IPv6): a flow is on the
  -- interface when one of its ends is one of them.
  SELECT DISTINCT interface_id, subnet_id, address FROM network_interfaces
  WHERE subnet_id IS NOT NULL AND address IS NOT NULL
),
scope AS (
  SELECT DISTINCT ch.event_id, i.interface_id, i.address
  FROM ch
  JOIN acl_associations a
    ON a.network_acl_id = ch.network_acl_id
   AND (a.valid_from IS NULL OR a.valid_from <= ch.event_time)
   AND (a.valid_to IS NULL OR a.valid_to > ch.event_time)
   AND (ch.event_name <> 'ReplaceNetworkAclAssociation' OR a.subnet_id = ch.subnet_id)
  JOIN ifaces i ON i.subnet_id = a.subnet_id
  WHERE ch.succeeded
),
scoped AS (
  -- Flows on the interfaces in scope, from the baseline to the end of the window, seen from the
  -- interface: the peer, the direction, and the side of the change.
  SELECT s.event_id,
         CASE WHEN f.srcaddr = s.address THEN f.dstaddr ELSE f.srcaddr END AS peer,
         f.srcaddr = s.address AS egress,
         f.protocol, f.dstport, f.action, f.bytes, f.start_time,
         arrow_cast(f.start_time, 'Int64') >= ch.t AS after
  FROM scope s
  JOIN ch ON ch.event_id = s.event_id
  JOIN flow_logs f ON f.interface_id = s.interface_id
  WHERE (f.srcaddr = s.address OR f.dstaddr = s.address)
    -- An entry governs one direction: only flows in that direction (into the interface for an
    -- ingress entry, out of it for an egress one); other changes see both.
    AND (ch.egress IS NULL OR ch.egress = (f.srcaddr = s.address))
    AND arrow_cast(f.start_time, 'Int64') >= ch.t - $baseline_us
    AND arrow_cast(f.start_time, 'Int64') < ch.t + $window_us
),
after_flows AS (
  -- Accepted flows after the change, folded per peer, direction, protocol and port: the rules
  -- are judged once per group.
  SELECT event_id, peer, egress, protocol, dstport,
         count(*) AS n, sum(bytes) AS bytes, min(start_time) AS first_t, max(start_time) AS last_t
  FROM scoped
  WHERE after AND action = 'ACCEPT'
  GROUP BY event_id, peer, egress, protocol, dstport
),
judged AS (
  SELECT fl.*,
         acl_allows(r.rules_after, fl.egress, fl.protocol, fl.peer, fl.dstport) AS allowed_after,
         acl_allows(r.rules_before, fl.egress, fl.protocol, fl.peer, fl.dstport) AS allowed_before
  FROM rules r JOIN after_flows fl ON fl.event_id = r.event_id
),
baseline_rejects AS (
  -- Peers REJECTed on the interface before the change (few: probes, scanners, blocked ranges).
  SELECT DISTINCT event_id, peer FROM scoped WHERE NOT after AND action = 'REJECT'
),
newly_allowed AS (
  -- Flow groups the change newly let through: allowed after it and denied before it; or allowed
  -- after it while the rules before are not fully known, from a peer REJECTed before it (what a
  -- removed deny used to block). Traffic another rule already allowed is left out.
  SELECT j.*, r.peer IS NOT NULL AS rejected_before,
         j.allowed_after AND j.allowed_before = false AS newly
  FROM baseline_rejects r
  RIGHT JOIN judged j ON r.event_id = j.event_id AND r.peer = j.peer
  WHERE (j.allowed_after AND j.allowed_before = false)
     OR (j.allowed_after IS NOT false AND j.allowed_before IS NULL AND r.peer IS NOT NULL)
),
counted AS (
  -- Per peer: the flows and bytes newly let through, and how.
  SELECT event_id, peer,
         bool_or(newly) AS newly,
         bool_or(rejected_before) AS rejected_before,
         sum(n) AS flows_after,
         sum(bytes) AS bytes_after,
         sum(CASE WHEN dstport IN (22, 3389) THEN n ELSE 0 END) AS admin_flows,
         min(first_t) AS first_flow,
         max(last_t) AS last_flow,
         -- Distinct ports the peer reached (a scan shows as many).
         count(DISTINCT dstport) AS ports_after
  FROM newly_allowed
  GROUP BY event_id, peer
),
baseline_seen AS (
  SELECT DISTINCT event_id, peer FROM scoped WHERE NOT after
),
evidence AS (
  SELECT k.*,
         TRUE AS counts,
         b.peer IS NOT NULL AS seen_before,
         NOT coalesce(is_private_ip(k.peer), false)
           AND (k.rejected_before
                OR (k.newly AND b.peer IS NULL AND (k.bytes_after >= 100000000 OR k.ports_after >= 10 OR k.admin_flows >= 10)))
           AS unusual
  FROM counted k
  LEFT JOIN baseline_seen b ON b.event_id = k.event_id AND b.peer = k.peer
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
  -- Every figure of a change is about the peers that count; the others are left out here.
  FROM evidence
  WHERE counts
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
       -- What the change did to the ACL's policy, in words (nacl_changes.opened / closed as JSON).
       ch.opened_text AS opened, ch.closed_text AS closed,
       coalesce(s.interfaces, 0) AS interfaces_in_scope, s.interface_list,
       coalesce(p.matching_flows, 0) AS matching_flows, coalesce(p.bytes, 0) AS bytes,
       coalesce(p.new_peers, 0) AS new_peers, p.reject_to_accept_peers, p.unusual_peer_list AS unusual_peers,
       p.distinct_ports, p.top_peers, p.first_flow, p.last_flow,
       ch.rule_number, ch.egress, ch.rule_action, ch.protocol, ch.cidr_block, ch.port_from, ch.port_to,
       ch.subnet_id, ch.error_code,
       -- What the scope and the rules stand on (inventory, config, cloudtrail, flow_records,
       -- inferred, unknown), and why: a verdict on an inferred link is no certainty.
       ch.topology_basis, ch.topology_reason,
       -- Which layer the change is in; the security group's and the moved interface's ids are
       -- filled by the rows of queries/correlate_sg.sql that `trailflow correlate` lists beside.
       'network_acl' AS firewall, CAST(NULL AS VARCHAR) AS group_id, CAST(NULL AS VARCHAR) AS interface_id
FROM ch
LEFT JOIN per_change p ON p.event_id = ch.event_id
LEFT JOIN in_scope s ON s.event_id = ch.event_id
ORDER BY ch.event_time, ch.event_id
