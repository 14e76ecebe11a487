-- name: actor_activity_around_change
-- title: Everything the changing actor did around a risky change
-- severity: medium
-- description: For each risky Network ACL change (risk score at least `min_score`), every
--   CloudTrail event of the same principal from `around` before to `around` after it: the
--   reconnaissance before, the follow-up after (security groups, logging, instances, keys).
--   minutes_from_change is negative before the change.
-- attack: T1562.007, T1078.004
-- attack_v19: T1686.001, T1078.004
-- param: min_score int 30 Lowest risk score of the changes to follow
-- param: around duration 2h How far before and after the change to look
WITH risky AS (
  SELECT event_id AS change_event_id, event_time AS change_time, event_name AS change, network_acl_id, actor_arn
  FROM nacl_changes
  WHERE risk_score >= $min_score AND actor_arn IS NOT NULL
)
SELECT t.event_time, r.actor_arn, r.change, r.network_acl_id, r.change_time,
       (arrow_cast(t.event_time, 'Int64') - arrow_cast(r.change_time, 'Int64')) / 60000000 AS minutes_from_change,
       t.event_source, t.event_name, t.error_code, t.source_ip, t.aws_region,
       left(CAST(t.request_parameters AS VARCHAR), 300) AS request, t.event_id, r.change_event_id
FROM risky r
JOIN cloudtrail t
  ON t.user_arn = r.actor_arn
 AND t.event_time >= r.change_time - $around
 AND t.event_time <= r.change_time + $around
ORDER BY r.change_time, t.event_time, t.event_id
