-- name: escalation_that_worked
-- title: Refused, then allowed after a permissions change
-- severity: high
-- description: A principal refused an API (a denial of rights, `is_refusal`), then a change of
--   permissions in the same account (a policy put, attached or given a new default version, a
--   user added to a group, a permissions boundary or a role's trust changed), then the same
--   principal allowed the same API within `window` of the refusal: the escalation worked. The
--   change and who made it are in the row; a principal granting itself is the intruder's mark.
-- attack: T1098, T1078.004
-- attack_v19: T1098, T1078.004
-- param: window duration 24h How long after the refusal an allowed call counts
WITH refused AS (
  SELECT user_arn, coalesce(recipient_account_id, account_id) AS account_id, event_source, event_name,
         min(event_time) AS refused_at, min(error_code) AS refused_with
  FROM cloudtrail
  WHERE coalesce(is_refusal(error_code), false) AND user_arn IS NOT NULL
  GROUP BY 1, 2, 3, 4
),
changes AS (
  SELECT event_time, coalesce(recipient_account_id, account_id) AS account_id, event_name, user_arn AS changed_by
  FROM cloudtrail
  WHERE error_code IS NULL AND event_source = 'iam.amazonaws.com'
    AND event_name IN ('PutUserPolicy', 'AttachUserPolicy', 'PutRolePolicy', 'AttachRolePolicy', 'PutGroupPolicy',
                       'AttachGroupPolicy', 'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'AddUserToGroup',
                       'UpdateAssumeRolePolicy', 'PutUserPermissionsBoundary', 'DeleteUserPermissionsBoundary',
                       'PutRolePermissionsBoundary', 'DeleteRolePermissionsBoundary')
),
allowed AS (
  SELECT r.user_arn, r.account_id, r.event_source, r.event_name, r.refused_at, r.refused_with,
         min(c.event_time) AS allowed_at
  FROM refused r
  JOIN cloudtrail c ON c.user_arn = r.user_arn AND c.event_source = r.event_source AND c.event_name = r.event_name
   AND c.error_code IS NULL AND c.event_time > r.refused_at AND c.event_time <= r.refused_at + $window
  GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT a.refused_at, a.allowed_at, a.account_id, a.user_arn AS actor_arn, a.event_source, a.event_name, a.refused_with,
       min(ch.event_time) AS permissions_changed_at,
       array_to_string(array_sort(array_agg(DISTINCT ch.event_name)), ', ') AS changes,
       array_to_string(array_sort(array_agg(DISTINCT ch.changed_by)), ', ') AS changed_by
FROM allowed a
JOIN changes ch ON ch.account_id = a.account_id AND ch.event_time > a.refused_at AND ch.event_time < a.allowed_at
GROUP BY a.refused_at, a.allowed_at, a.account_id, a.user_arn, a.event_source, a.event_name, a.refused_with
ORDER BY a.refused_at
