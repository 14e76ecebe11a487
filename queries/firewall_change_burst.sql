-- name: firewall_change_burst
-- title: Bursts of firewall changes by one actor
-- severity: medium
-- description: One principal changing Network ACLs, security groups or Network Firewall several
--   times in quick succession (each change within `gap` of the one before): an intruder
--   opening a path, or a rushed manual change worth a review. Failed calls count too.
-- attack: T1562.007
-- attack_v19: T1686.001
-- param: min_changes int 3 Changes in one burst that count
-- param: gap duration 30m Longest pause between two changes of the same burst
WITH fw AS (
  SELECT event_time, user_arn, event_name, error_code, source_ip, account_id, aws_region
  FROM cloudtrail
  WHERE event_name IN ('CreateNetworkAclEntry', 'ReplaceNetworkAclEntry', 'DeleteNetworkAclEntry',
                       'CreateNetworkAcl', 'DeleteNetworkAcl', 'ReplaceNetworkAclAssociation',
                       'AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress',
                       'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress',
                       'ModifySecurityGroupRules', 'CreateSecurityGroup', 'DeleteSecurityGroup',
                       'UpdateRuleGroup', 'DeleteRuleGroup', 'UpdateFirewallPolicy',
                       'DeleteFirewallPolicy', 'DeleteFirewall', 'DisassociateSubnets')
    AND user_arn IS NOT NULL
),
marked AS (
  SELECT *,
         CASE WHEN lag(event_time) OVER (PARTITION BY user_arn ORDER BY event_time) + $gap >= event_time
              THEN 0 ELSE 1 END AS starts_burst
  FROM fw
),
numbered AS (
  SELECT *, sum(starts_burst) OVER (PARTITION BY user_arn ORDER BY event_time
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS burst
  FROM marked
)
SELECT min(event_time) AS first_change, max(event_time) AS last_change, user_arn AS actor_arn,
       count(*) AS changes,
       sum(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) AS failed,
       array_to_string(array_agg(event_name ORDER BY event_time), ', ') AS events,
       array_to_string(array_sort(array_distinct(array_agg(source_ip))), ', ') AS source_ips,
       array_to_string(array_sort(array_distinct(array_agg(account_id || '/' || aws_region))), ', ') AS where_
FROM numbered
GROUP BY user_arn, burst
HAVING count(*) >= $min_changes
ORDER BY first_change
