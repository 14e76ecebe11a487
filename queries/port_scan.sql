-- name: port_scan
-- title: Port scans from outside
-- severity: medium
-- description: One outside address trying many distinct ports of one interface within an hour,
--   with how many of them were accepted (a scan that gets answers is the one to chase).
-- attack: T1046
-- attack_v19: T1046
-- param: min_ports int 100 Distinct ports in an hour that make a scan
SELECT date_trunc('hour', start_time) AS hour, srcaddr AS scanner, interface_id, dstaddr AS target,
       count(DISTINCT dstport) AS ports,
       count(DISTINCT CASE WHEN action = 'ACCEPT' THEN dstport END) AS ports_accepted,
       array_to_string(array_slice(array_sort(array_distinct(array_agg(CASE WHEN action = 'ACCEPT' THEN dstport END))), 1, 20), ',') AS accepted_ports,
       count(*) AS flows, min(start_time) AS first_flow, max(start_time) AS last_flow
FROM flow_logs
WHERE log_status = 'OK' AND NOT is_private_ip(srcaddr) AND is_private_ip(dstaddr)
GROUP BY date_trunc('hour', start_time), srcaddr, interface_id, dstaddr
HAVING count(DISTINCT dstport) >= $min_ports
ORDER BY hour, scanner
