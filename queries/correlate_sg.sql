-- correlate_sg: which security-group change let in which traffic.
--
-- One row per security-group call (sg_changes) with its verdict and the evidence, in the columns
-- of queries/correlate.sql (so that `trailflow correlate` lists the changes of both layers as one
-- table). Parameters as there: $window_us after the change, $baseline_us before it; and
-- $span_from / $span_to, the timestamps that bound every change's baseline and window (the
-- session computes them; to run this by hand, bind the first change's time less the baseline
-- and the last one's plus the window).
--
-- The semantics (issue 34, the security-group model AWS documents):
-- * Scope: the interfaces in the group at the moment of the change, or the interface a move names
--   (sg_change_scope, which also holds the rules of ALL the groups of the interface before and after:
--   another group that already allowed a packet means the change did not). When nothing shows the
--   members of the group, the interfaces of its VPC whose groups are unknown are looked at
--   (scope = 'inferred'), and only peers REJECTed on that interface before count there.
-- * Only what the change newly allows: an ACCEPTed flow (both layers let it through) that the
--   rules of the groups allow after the change (acl_allows over rules_after) and did not before.
-- * Groups are stateful: a reply to a connection allowed the other way is no new traffic. A flow
--   is a reply when its TCP flags hold SYN-ACK (bit 16; AWS records SYN-ACK as 18 and no bare
--   ACK), or, without a SYN or SYN-ACK to tell, when the flow the other way with the ports
--   swapped is on the same interface and this flow comes from the lower (service) port.
-- * Unusual: as for ACL changes, a peer outside the private ranges whose newly allowed traffic
--   was still REJECTed on the interface when the change came (a REJECT in the baseline and no
--   ACCEPT in that direction after it), or, never seen there, scans (10+ ports),
--   hammers an admin port (10+ flows to 22 or 3389) or moves volume (100 MB+).
-- * A failed call is no evidence against anyone: its verdict is failed_change.
-- Each join names its small side first (the session keeps the order the SQL gives: see
-- correlate::tune_session): the flows are always the side that streams.
WITH ch AS (
  SELECT *, arrow_cast(event_time, 'Int64') AS t FROM sg_changes
),
rules AS (
  SELECT DISTINCT event_id, interface_id, scope,
         arrow_cast(rules_after, 'Dictionary(Int32, Utf8)') AS rules_after,
         arrow_cast(rules_before, 'Dictionary(Int32, Utf8)') AS rules_before
  FROM sg_change_scope
),
scope AS (
  -- Only changes that opened something can have let anything in.
  SELECT DISTINCT s.event_id, s.interface_id, s.address, s.opened_protocol, s.opened_port_from, s.opened_port_to
  FROM sg_change_scope s JOIN ch ON ch.event_id = s.event_id
  WHERE ch.succeeded AND s.address IS NOT NULL AND s.opens
),
scoped AS (
  -- Flows on the interfaces in scope, from the baseline to the end of the window, seen from the
  -- interface, in both directions (the other direction tells replies apart).
  SELECT s.event_id, s.interface_id,
         CASE WHEN f.srcaddr = s.address THEN f.dstaddr ELSE f.srcaddr END AS peer,
         f.srcaddr = s.address AS egress,
         f.protocol, f.srcport, f.dstport, f.tcp_flags, f.action, f.bytes, f.start_time,
         arrow_cast(f.start_time, 'Int64') >= ch.t AS after,
         -- Within the bounds of what the change opened (a newly allowed packet must be).
         (s.opened_protocol IS NULL OR f.protocol = s.opened_protocol)
           AND (s.opened_port_from IS NULL OR f.dstport BETWEEN s.opened_port_from AND s.opened_port_to) AS in_opened
  FROM scope s
  JOIN ch ON ch.event_id = s.event_id
  JOIN flow_logs f ON f.interface_id = s.interface_id
  WHERE (f.srcaddr = s.address OR f.dstaddr = s.address)
    -- The span of all the changes' baselines and windows, bound by the session as timestamps:
    -- the scan skips what lies outside it.
    AND f.start_time >= $span_from AND f.start_time < $span_to
    AND arrow_cast(f.start_time, 'Int64') >= ch.t - $baseline_us
    AND arrow_cast(f.start_time, 'Int64') < ch.t + $window_us
),
after_tuples AS (
  -- Accepted flows after the change in the direction it governs and within what it opened,
  -- folded per interface, peer, protocol and ports (the TCP flags of the records OR-ed, as AWS
  -- does within one record).
  SELECT f.event_id, f.interface_id, f.peer, f.egress, f.protocol, f.srcport, f.dstport,
         bit_or(f.tcp_flags) AS tcp_flags, count(*) AS n, sum(f.bytes) AS bytes,
         min(f.start_time) AS first_t, max(f.start_time) AS last_t
  FROM ch
  JOIN scoped f ON f.event_id = ch.event_id
  WHERE f.after AND f.action = 'ACCEPT' AND f.in_opened
    -- A rule change governs its direction; a move, both.
    AND (ch.egress IS NULL OR ch.egress = f.egress)
  GROUP BY f.event_id, f.interface_id, f.peer, f.egress, f.protocol, f.srcport, f.dstport
),
candidates AS (
  -- What the change may have let through: allowed after it (or not known to be denied) and not
  -- known to be allowed before it.
  SELECT g.*, r.scope,
         acl_allows(r.rules_after, g.egress, g.protocol, g.peer, g.dstport) AS allowed_after,
         acl_allows(r.rules_before, g.egress, g.protocol, g.peer, g.dstport) AS allowed_before
  FROM rules r JOIN after_tuples g ON g.event_id = r.event_id AND g.interface_id = r.interface_id
),
kept AS (
  -- Allowed after and not known to be allowed before. Groups only allow: a packet no rule the
  -- change added matches is decided after as before, so "not known after" counts only where
  -- the rules before were known to deny it (a move into groups not all shown).
  SELECT * FROM candidates
  WHERE (allowed_after AND allowed_before IS NOT true) OR (allowed_after IS NULL AND allowed_before = false)
),
peers AS (
  SELECT DISTINCT event_id, interface_id, peer FROM kept
),
reverse AS (
  -- Accepted flows of those peers on the interface, as tuples, to tell replies by.
  SELECT DISTINCT s.event_id, s.interface_id, s.peer, s.egress, s.protocol, s.srcport, s.dstport
  FROM peers p JOIN scoped s ON p.event_id = s.event_id AND p.interface_id = s.interface_id AND p.peer = s.peer
  WHERE s.action = 'ACCEPT'
),
openers AS (
  -- The kept flows that open a connection. A reply: TCP flags with SYN-ACK (bit 16); or,
  -- without a SYN to say otherwise, the flow the other way with the ports swapped was accepted
  -- on the interface and this one comes from the lower (service) port.
  SELECT k.*
  FROM kept k
  LEFT JOIN reverse r
    ON r.event_id = k.event_id AND r.interface_id = k.interface_id AND r.peer = k.peer AND r.egress <> k.egress
   AND r.protocol = k.protocol AND r.srcport = k.dstport AND r.dstport = k.srcport
  WHERE NOT (k.protocol = 6 AND k.tcp_flags IS NOT NULL AND (k.tcp_flags & 16) <> 0)
    AND (r.peer IS NULL OR k.srcport >= k.dstport
         OR (k.protocol = 6 AND k.tcp_flags IS NOT NULL AND (k.tcp_flags & 2) <> 0))
),
judged AS (
  SELECT event_id, interface_id, peer, egress, protocol, dstport, scope, allowed_after, allowed_before,
         sum(n) AS n, sum(bytes) AS bytes, min(first_t) AS first_t, max(last_t) AS last_t
  FROM openers
  GROUP BY event_id, interface_id, peer, egress, protocol, dstport, scope, allowed_after, allowed_before
),
baseline AS (
  -- Those peers on the interface in the baseline: when each direction was last refused and last
  -- accepted.
  SELECT s.event_id, s.interface_id, s.peer,
         max(CASE WHEN s.action = 'REJECT' AND NOT s.egress THEN s.start_time END) AS refused_in,
         max(CASE WHEN s.action = 'ACCEPT' AND NOT s.egress THEN s.start_time END) AS accepted_in,
         max(CASE WHEN s.action = 'REJECT' AND s.egress THEN s.start_time END) AS refused_out,
         max(CASE WHEN s.action = 'ACCEPT' AND s.egress THEN s.start_time END) AS accepted_out
  FROM peers p JOIN scoped s ON p.event_id = s.event_id AND p.interface_id = s.interface_id AND p.peer = s.peer
  WHERE NOT s.after
  GROUP BY s.event_id, s.interface_id, s.peer
),
flagged AS (
  -- A peer still refused on the interface, in that direction, when the change came: a REJECT in
  -- the baseline and no ACCEPT after it. A peer that another change (of an ACL, of another group)
  -- had already let in before this one is no flip caused by this one.
  SELECT j.*, b.peer IS NOT NULL AS seen_before,
         coalesce(CASE WHEN j.egress
                       THEN b.refused_out IS NOT NULL AND (b.accepted_out IS NULL OR b.accepted_out < b.refused_out)
                       ELSE b.refused_in IS NOT NULL AND (b.accepted_in IS NULL OR b.accepted_in < b.refused_in) END,
                  false) AS rejected_before,
         j.allowed_after AND j.allowed_before = false AS newly
  FROM baseline b
  RIGHT JOIN judged j ON b.event_id = j.event_id AND b.interface_id = j.interface_id AND b.peer = j.peer
),
newly_allowed AS (
  SELECT * FROM flagged
  WHERE ((allowed_after AND allowed_before = false)
         OR (allowed_after IS NOT false AND allowed_before IS NOT true AND rejected_before))
    -- On an interface only inferred to be in the group, only what was refused before counts.
    AND (scope <> 'inferred' OR rejected_before)
),
counted AS (
  SELECT event_id, peer,
         bool_or(newly) AS newly,
         bool_or(rejected_before) AS rejected_before,
         bool_or(seen_before) AS seen_before,
         sum(n) AS flows_after,
         sum(bytes) AS bytes_after,
         sum(CASE WHEN dstport IN (22, 3389) THEN n ELSE 0 END) AS admin_flows,
         min(first_t) AS first_flow,
         max(last_t) AS last_flow,
         count(DISTINCT dstport) AS ports_after
  FROM newly_allowed
  GROUP BY event_id, peer
),
evidence AS (
  SELECT k.*,
         NOT coalesce(is_private_ip(k.peer), false)
           AND (k.rejected_before
                OR (k.newly AND NOT k.seen_before AND (k.bytes_after >= 100000000 OR k.ports_after >= 10 OR k.admin_flows >= 10)))
           AS unusual
  FROM counted k
),
per_change AS (
  SELECT event_id,
         sum(flows_after) AS matching_flows,
         sum(bytes_after) AS bytes,
         sum(CASE WHEN NOT seen_before THEN 1 ELSE 0 END) AS new_peers,
         array_to_string(array_sort(array_agg(peer) FILTER (WHERE rejected_before)), ', ') AS reject_to_accept_peers,
         sum(CASE WHEN unusual THEN 1 ELSE 0 END) AS unusual_peers,
         array_to_string(array_sort(array_agg(peer) FILTER (WHERE unusual)), ', ') AS unusual_peer_list,
         max(ports_after) AS distinct_ports,
         min(first_flow) AS first_flow,
         max(last_flow) AS last_flow,
         array_to_string(array_slice(array_agg(peer || ' ' || bytes_after ORDER BY bytes_after DESC, peer), 1, 5), ', ') AS top_peers
  FROM evidence
  GROUP BY event_id
),
in_scope AS (
  SELECT event_id, count(DISTINCT interface_id) AS interfaces,
         array_to_string(array_sort(array_agg(DISTINCT interface_id)), ', ') AS interface_list
  FROM sg_change_scope GROUP BY event_id
)
SELECT ch.event_id, ch.event_time, ch.event_name, CAST(NULL AS VARCHAR) AS network_acl_id, ch.actor_arn,
       CASE WHEN NOT ch.succeeded THEN 'failed_change'
            WHEN coalesce(p.unusual_peers, 0) > 0 THEN 'unusual_traffic_after_change'
            WHEN ch.risk_score > 0 THEN 'risky_change_no_unusual_traffic'
            ELSE 'change_no_unusual_traffic' END AS verdict,
       CAST(least(100, ch.risk_score / 2 + CASE WHEN ch.succeeded THEN least(60, 30 * coalesce(p.unusual_peers, 0)) ELSE 0 END) AS BIGINT) AS score,
       ch.risk_score, ch.risk_reasons,
       ch.opened_text AS opened, ch.closed_text AS closed,
       coalesce(s.interfaces, 0) AS interfaces_in_scope, s.interface_list,
       coalesce(p.matching_flows, 0) AS matching_flows, coalesce(p.bytes, 0) AS bytes,
       coalesce(p.new_peers, 0) AS new_peers, p.reject_to_accept_peers, p.unusual_peer_list AS unusual_peers,
       p.distinct_ports, p.top_peers, p.first_flow, p.last_flow,
       CAST(NULL AS BIGINT) AS rule_number, ch.egress,
       CASE WHEN ch.protocol IS NOT NULL THEN 'allow' END AS rule_action,
       ch.protocol, coalesce(ch.cidr_block, ch.ipv6_cidr_block, ch.referenced_group_id, ch.prefix_list_id) AS cidr_block,
       ch.port_from, ch.port_to,
       CAST(NULL AS VARCHAR) AS subnet_id, ch.error_code,
       ch.topology_basis, ch.topology_reason,
       'security_group' AS firewall, ch.group_id, ch.interface_id
FROM ch
LEFT JOIN per_change p ON p.event_id = ch.event_id
LEFT JOIN in_scope s ON s.event_id = ch.event_id
ORDER BY ch.event_time, ch.event_id
