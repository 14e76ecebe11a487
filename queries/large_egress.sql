-- name: large_egress
-- title: Large transfers out to the internet
-- severity: high
-- description: Accepted bytes sent from an interface to one outside address, summed over the
--   evidence, at or above `min_bytes`: the shape of exfiltration (or of a backup nobody wrote
--   down). Only the outbound direction counts (source private, destination outside).
--   `peer_context` says whose the peer is (AWS service and region; country and network with
--   --geoip): a transfer to S3 may be the backup, or to the intruder's own bucket.
-- attack: T1048, T1041
-- attack_v19: T1048, T1041
-- param: min_bytes int 1000000000 Least bytes sent to one peer that count
SELECT min(start_time) AS first_flow, max(start_time) AS last_flow, interface_id,
       srcaddr AS local_address, dstaddr AS peer, sum(bytes) AS bytes_out, count(*) AS flows,
       array_to_string(array_slice(array_sort(array_distinct(array_agg(dstport))), 1, 10), ',') AS peer_ports,
       ip_context(dstaddr) AS peer_context
FROM flow_logs
WHERE log_status = 'OK' AND action = 'ACCEPT' AND is_private_ip(srcaddr) AND NOT is_private_ip(dstaddr)
GROUP BY interface_id, srcaddr, dstaddr
HAVING sum(bytes) >= $min_bytes
ORDER BY bytes_out DESC
