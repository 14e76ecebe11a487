-- name: iam_user_created
-- title: IAM users created
-- severity: medium
-- description: CreateUser calls: a new identity in the account, by whom and from where.
--   Attackers make their own users to come back with.
-- attack: T1136.003
-- attack_v19: T1136.003
SELECT event_time, account_id, json_get_str(request_parameters, 'userName') AS new_user,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE event_source = 'iam.amazonaws.com' AND event_name = 'CreateUser'
ORDER BY event_time
