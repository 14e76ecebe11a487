-- name: rolesanywhere_trust_anchor
-- title: IAM Roles Anywhere trust anchors and profiles created
-- severity: high
-- description: CreateTrustAnchor and CreateProfile: a certificate authority of the caller's
--   choosing becomes able to hand out role credentials from outside AWS, with no IAM user or key
--   to find and delete.
-- attack: T1098.001
-- attack_v19: T1098.001
SELECT event_time, account_id, aws_region, event_name, json_get_str(request_parameters, 'name') AS name,
       CAST(json_get(request_parameters, 'roleArns') AS VARCHAR) AS role_arns,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'rolesanywhere.amazonaws.com' AND event_name IN ('CreateTrustAnchor', 'CreateProfile', 'UpdateTrustAnchor')
ORDER BY event_time
