-- name: sg_world_admin_ports
-- title: Security groups opened to the world on administration ports
-- severity: high
-- description: AuthorizeSecurityGroupIngress calls that allow 0.0.0.0/0 or ::/0 on SSH, RDP,
--   database or other administration ports, or on all protocols. Both request shapes AWS
--   records are read: the item shape (ipPermissions.items[] with ipRanges / ipv6Ranges) and the
--   older flat shape (cidrIp, fromPort, toPort at the top). Each call is then placed with the
--   security-group model (sg_changes): `reached` says whether the opening reached an interface
--   through the subnet's ACL, was still denied by it, or landed on a group no interface was in.
-- attack: T1562.007, T1133
-- attack_v19: T1686.001, T1133
-- param: admin_ports text 22,23,445,1433,1521,2375,3306,3389,5432,5900,5985,5986,6379,9200,27017 Ports that count as administration ports
WITH calls AS (
  SELECT event_time, event_id, user_arn, source_ip, user_agent, account_id, aws_region, error_code,
         json_get_str(request_parameters, 'groupId') AS group_id, request_parameters AS rp
  FROM cloudtrail
  WHERE event_name = 'AuthorizeSecurityGroupIngress'
),
items AS (
  SELECT c.*, unnest(json_get_array(c.rp, 'ipPermissions', 'items')) AS item FROM calls c
),
item_ranges AS (
  SELECT i.*, unnest(array_concat(coalesce(json_get_array(i.item, 'ipRanges', 'items'), make_array()),
                                  coalesce(json_get_array(i.item, 'ipv6Ranges', 'items'), make_array()))) AS range
  FROM items i
),
rules AS (
  SELECT event_time, event_id, user_arn, source_ip, user_agent, account_id, aws_region, error_code, group_id,
         'items' AS request_shape,
         json_get_str(item, 'ipProtocol') AS ip_protocol,
         json_get_int(item, 'fromPort') AS from_port, json_get_int(item, 'toPort') AS to_port,
         coalesce(json_get_str(range, 'cidrIp'), json_get_str(range, 'cidrIpv6')) AS cidr
  FROM item_ranges
  UNION ALL
  SELECT event_time, event_id, user_arn, source_ip, user_agent, account_id, aws_region, error_code, group_id,
         'flat' AS request_shape,
         json_get_str(rp, 'ipProtocol'), json_get_int(rp, 'fromPort'), json_get_int(rp, 'toPort'),
         coalesce(json_get_str(rp, 'cidrIp'), json_get_str(rp, 'cidrIpv6'))
  FROM calls
  WHERE json_get_str(rp, 'cidrIp') IS NOT NULL OR json_get_str(rp, 'cidrIpv6') IS NOT NULL
),
ports AS (
  SELECT CAST(trim(unnest(string_to_array($admin_ports, ','))) AS BIGINT) AS port
),
open_rules AS (
  SELECT r.*,
         CASE WHEN r.ip_protocol IN ('-1', 'all') THEN 'all'
              ELSE array_to_string(array_sort(array_agg(p.port) FILTER (WHERE p.port IS NOT NULL)), ',') END AS admin_ports_opened
  FROM rules r
  LEFT JOIN ports p ON p.port BETWEEN r.from_port AND r.to_port AND r.ip_protocol NOT IN ('-1', 'all')
  WHERE r.cidr IN ('0.0.0.0/0', '::/0')
  GROUP BY r.event_time, r.event_id, r.user_arn, r.source_ip, r.user_agent, r.account_id, r.aws_region,
           r.error_code, r.group_id, r.request_shape, r.ip_protocol, r.from_port, r.to_port, r.cidr
)
SELECT o.event_time, o.account_id, o.aws_region, o.group_id, o.cidr, o.ip_protocol, o.from_port, o.to_port,
       o.admin_ports_opened, o.request_shape, o.error_code,
       CASE WHEN o.error_code IS NOT NULL THEN 'no: the call failed'
            WHEN strpos(c.risk_reasons, 'unused_group') > 0 THEN 'not yet: no interface in the group'
            WHEN strpos(c.risk_reasons, 'blocked_by_acl') > 0 THEN 'no: the subnet ACL still denies it'
            WHEN c.interfaces_in_scope > 0 AND c.topology_basis <> 'unknown' THEN 'yes'
            WHEN c.interfaces_in_scope > 0
              THEN 'possibly: the group''s members are not in the evidence; interfaces of its VPC with unknown groups'
            ELSE 'not known: the group''s members are not in the evidence' END AS reached,
       c.interfaces_in_scope,
       o.user_arn AS actor_arn, o.source_ip, o.user_agent, o.event_id
FROM open_rules o
LEFT JOIN sg_changes c ON c.event_id = o.event_id
WHERE o.admin_ports_opened IS NOT NULL AND o.admin_ports_opened <> ''
ORDER BY o.event_time
