-- name: access_key_created
-- title: Access keys created, and their first use
-- severity: high
-- description: CreateAccessKey calls: who created a key for whom, from where, and when and from
--   where the new key was first used in the evidence. A key created for another user, or used
--   from another address minutes after it was made, is persistence.
-- attack: T1098.001
-- attack_v19: T1098.001
WITH created AS (
  SELECT event_time, account_id, user_arn AS actor_arn, source_ip, user_agent,
         coalesce(json_get_str(request_parameters, 'userName'), user_name) AS for_user,
         json_get_str(response_elements, 'accessKey', 'accessKeyId') AS new_key, event_id
  FROM cloudtrail
  WHERE event_name = 'CreateAccessKey' AND error_code IS NULL
),
uses AS (
  SELECT access_key_id, event_time, source_ip, event_name,
         row_number() OVER (PARTITION BY access_key_id ORDER BY event_time, event_id) AS n
  FROM cloudtrail
  WHERE access_key_id IN (SELECT new_key FROM created WHERE new_key IS NOT NULL)
)
SELECT c.event_time, c.account_id, c.actor_arn, c.for_user, c.new_key, c.source_ip AS created_from,
       u.event_time AS first_used, u.source_ip AS first_used_from, u.event_name AS first_call,
       CAST((arrow_cast(u.event_time, 'Int64') - arrow_cast(c.event_time, 'Int64')) / 60000000 AS BIGINT) AS minutes_to_first_use,
       u.source_ip IS NOT NULL AND u.source_ip <> c.source_ip AS used_from_elsewhere,
       c.user_agent, c.event_id
FROM created c
LEFT JOIN uses u ON u.access_key_id = c.new_key AND u.n = 1
ORDER BY c.event_time
