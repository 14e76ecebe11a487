-- name: beaconing
-- title: Beacon-like periodic connections out
-- severity: high
-- description: An interface opening new connections (a new source port each time) to the same
--   outside address and port at a steady interval: command-and-control check-ins look like
--   this. Steady means the typical deviation of the intervals is small against their median
--   (jitter: median absolute deviation over median interval), which a missed check-in or an
--   hour without flow logs does not spoil. Long connections cut into flow-log aggregation
--   windows are not counted, because they keep their source port.
-- attack: T1071, T1573
-- attack_v19: T1071, T1573
-- param: min_connections int 36 Least connections to one peer and port
-- param: max_jitter float 0.1 Largest median absolute deviation of the intervals, over their median
-- param: min_interval duration 10s Shortest median interval (anything faster is a stream, not a beacon)
WITH conns AS (
  SELECT interface_id, srcaddr AS local_address, dstaddr AS peer, dstport, srcport, start_time, bytes
  FROM flow_logs
  WHERE log_status = 'OK' AND action = 'ACCEPT' AND is_private_ip(srcaddr) AND NOT is_private_ip(dstaddr)
),
gaps AS (
  SELECT *, arrow_cast(start_time, 'Int64')
            - arrow_cast(lag(start_time) OVER (PARTITION BY interface_id, peer, dstport ORDER BY start_time), 'Int64') AS gap_us
  FROM conns
),
per AS (
  SELECT interface_id, local_address, peer, dstport, count(*) AS connections,
         count(DISTINCT srcport) AS source_ports, median(gap_us) AS median_gap_us,
         min(start_time) AS first_flow, max(start_time) AS last_flow, sum(bytes) AS bytes, avg(bytes) AS mean_bytes
  FROM gaps
  GROUP BY interface_id, local_address, peer, dstport
),
spread AS (
  SELECT g.interface_id, g.peer, g.dstport, median(abs(g.gap_us - p.median_gap_us)) AS mad_us
  FROM gaps g JOIN per p ON p.interface_id = g.interface_id AND p.peer = g.peer AND p.dstport = g.dstport
  WHERE g.gap_us IS NOT NULL
  GROUP BY g.interface_id, g.peer, g.dstport
)
SELECT p.first_flow, p.last_flow, p.interface_id, p.local_address, p.peer, p.dstport, p.connections,
       round(p.median_gap_us / 1000000.0, 1) AS interval_seconds,
       round(CAST(s.mad_us AS DOUBLE) / p.median_gap_us, 3) AS jitter, p.bytes, round(p.mean_bytes, 0) AS mean_bytes
FROM per p
JOIN spread s ON s.interface_id = p.interface_id AND s.peer = p.peer AND s.dstport = p.dstport
WHERE p.connections >= $min_connections
  AND p.source_ports * 2 >= p.connections
  AND p.median_gap_us > 0
  AND CAST(s.mad_us AS DOUBLE) / p.median_gap_us <= $max_jitter
  AND arrow_cast(to_timestamp_micros(0) + $min_interval, 'Int64') <= p.median_gap_us
ORDER BY jitter, p.connections DESC
