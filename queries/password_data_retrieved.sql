-- name: password_data_retrieved
-- title: Windows administrator passwords retrieved
-- severity: medium
-- description: ec2:GetPasswordData: the encrypted administrator password of a Windows instance
--   fetched, by whom and from where; a run of refusals is someone trying instance after instance.
-- attack: T1552
-- attack_v19: T1552
SELECT min(event_time) AS first_call, max(event_time) AS last_call, account_id, aws_region,
       user_arn AS actor_arn, source_ip, count(*) AS calls,
       count(DISTINCT json_get_str(request_parameters, 'instanceId')) AS instances,
       sum(CASE WHEN coalesce(is_refusal(error_code), false) THEN 1 ELSE 0 END) AS refused, min(user_agent) AS user_agent
FROM cloudtrail
WHERE event_source = 'ec2.amazonaws.com' AND event_name = 'GetPasswordData'
GROUP BY account_id, aws_region, user_arn, source_ip, date_trunc('hour', event_time)
ORDER BY first_call
