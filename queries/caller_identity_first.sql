-- name: caller_identity_first
-- title: Long-term keys whose first call is GetCallerIdentity
-- severity: medium
-- description: An access key (AKIA..., a user's long-term key) that appears in the evidence with
--   sts:GetCallerIdentity as its first call, when the evidence reaches back at least min_history
--   before: "whose key is this?" is the first thing a stolen key is asked.
-- attack: T1087.004, T1033
-- attack_v19: T1087.004, T1033
-- param: min_history duration 6h How far the evidence must reach back before the key's first call
WITH firsts AS (
  SELECT access_key_id, event_time, event_name, user_arn, source_ip, user_agent, event_id,
         row_number() OVER (PARTITION BY access_key_id ORDER BY event_time, event_id) AS n
  FROM cloudtrail
  WHERE access_key_id LIKE 'AKIA%'
),
span AS (
  SELECT min(event_time) AS evidence_start FROM cloudtrail
)
SELECT f.event_time, f.access_key_id, f.user_arn AS actor_arn, f.source_ip, f.user_agent, f.event_id
FROM firsts f CROSS JOIN span s
WHERE f.n = 1 AND f.event_name = 'GetCallerIdentity' AND f.event_time >= s.evidence_start + $min_history
ORDER BY f.event_time
