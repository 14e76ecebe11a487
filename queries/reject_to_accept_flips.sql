-- name: reject_to_accept_flips
-- title: Outside peers rejected, then accepted
-- severity: high
-- description: An outside address whose connections to an interface and port were REJECTed,
--   and later ACCEPTed on the same interface and port: something between the two let it in (a
--   NACL or security group change, or a moved subnet). One row per interface and peer, with the
--   ports that flipped. Independent of CloudTrail: it also finds openings whose change event
--   is missing.
-- attack: T1190, T1133
-- attack_v19: T1190, T1133
-- param: min_accepts int 1 Accepted flows after the first reject that count
WITH inbound AS (
  SELECT interface_id, srcaddr AS peer, dstport AS port, protocol, action, start_time, bytes
  FROM flow_logs
  WHERE log_status = 'OK' AND NOT is_private_ip(srcaddr) AND is_private_ip(dstaddr)
),
rejected AS (
  SELECT interface_id, peer, port, protocol, min(start_time) AS first_reject, count(*) AS rejects
  FROM inbound WHERE action = 'REJECT'
  GROUP BY interface_id, peer, port, protocol
),
flipped AS (
  SELECT r.interface_id, r.peer, r.port, r.protocol, r.first_reject, r.rejects,
         min(i.start_time) AS first_accept, count(*) AS accepts, sum(i.bytes) AS bytes
  FROM rejected r
  JOIN inbound i ON i.interface_id = r.interface_id AND i.peer = r.peer AND i.port = r.port
                AND i.protocol = r.protocol AND i.action = 'ACCEPT' AND i.start_time > r.first_reject
  GROUP BY r.interface_id, r.peer, r.port, r.protocol, r.first_reject, r.rejects
)
SELECT min(first_accept) AS first_accept, min(first_reject) AS first_reject, interface_id, peer,
       count(*) AS ports_flipped,
       array_to_string(array_slice(array_sort(array_agg(port)), 1, 20), ',') AS ports,
       sum(rejects) AS rejects, sum(accepts) AS accepts_after, sum(bytes) AS bytes_after
FROM flipped
GROUP BY interface_id, peer
HAVING sum(accepts) >= $min_accepts
ORDER BY first_accept, interface_id, peer
