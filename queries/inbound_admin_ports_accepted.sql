-- name: inbound_admin_ports_accepted
-- title: Administration ports reached from the internet
-- severity: high
-- description: Accepted inbound flows from outside addresses to SSH, RDP, Telnet, SMB, database
--   and other administration ports: whatever the rules say, these connections got through.
--   One row per interface, peer and port.
-- attack: T1133, T1021
-- attack_v19: T1133, T1021
-- param: admin_ports text 22,23,445,1433,1521,2375,3306,3389,5432,5900,5985,5986,6379,9200,27017 Ports that count as administration ports
SELECT min(start_time) AS first_flow, max(start_time) AS last_flow, interface_id, srcaddr AS peer,
       dstaddr AS local_address, dstport, protocol_name(protocol) AS protocol,
       count(*) AS flows, sum(bytes) AS bytes, sum(packets) AS packets
FROM flow_logs
WHERE log_status = 'OK' AND action = 'ACCEPT'
  AND NOT is_private_ip(srcaddr) AND is_private_ip(dstaddr)
  AND array_has(string_to_array($admin_ports, ','), CAST(dstport AS VARCHAR))
GROUP BY interface_id, srcaddr, dstaddr, dstport, protocol
ORDER BY first_flow, interface_id, peer
