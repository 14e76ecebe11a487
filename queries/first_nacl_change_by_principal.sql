-- name: first_nacl_change_by_principal
-- title: A principal's first Network ACL change in the evidence
-- severity: low
-- description: The first NACL change each principal made, when the evidence reaches back at
--   least `min_history` before it (so earlier changes would have been seen). A principal that
--   never touched ACLs before, such as an instance role or a temporary user, is a lead; the
--   events_before column tells a busy administrator from an identity that barely acted.
-- attack: T1562.007, T1078.004
-- attack_v19: T1686.001, T1078.004
-- param: min_history duration 6h How far the evidence must reach back before the change
WITH firsts AS (
  SELECT actor_arn, min(event_time) AS first_change
  FROM nacl_changes
  WHERE actor_arn IS NOT NULL
  GROUP BY actor_arn
),
first_rows AS (
  SELECT c.* FROM nacl_changes c JOIN firsts f ON c.actor_arn = f.actor_arn AND c.event_time = f.first_change
),
span AS (
  SELECT recipient_account_id AS account_id, min(event_time) AS evidence_start
  FROM cloudtrail GROUP BY recipient_account_id
),
before AS (
  SELECT f.actor_arn, count(t.event_id) AS events_before, min(t.event_time) AS actor_first_seen
  FROM firsts f LEFT JOIN cloudtrail t ON t.user_arn = f.actor_arn AND t.event_time < f.first_change
  GROUP BY f.actor_arn
)
SELECT r.event_time, r.actor_arn, r.event_name, r.account_id, r.aws_region, r.network_acl_id,
       r.succeeded, r.risk_score, r.risk_reasons, b.events_before, b.actor_first_seen,
       s.evidence_start, r.source_ip, r.user_agent, r.event_id
FROM first_rows r
JOIN span s ON s.account_id = r.account_id
JOIN before b ON b.actor_arn = r.actor_arn
WHERE s.evidence_start + $min_history <= r.event_time
ORDER BY r.event_time
