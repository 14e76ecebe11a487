-- name: flow_log_deletion
-- title: Flow logs deleted while their VPC lives on
-- severity: high
-- description: DeleteFlowLogs calls that no DeleteVpc in the same account and region follows
--   within `teardown_window`: a teardown removes both, an intruder blinding the network
--   monitoring removes only the log. Failed attempts are listed too (outcome). The last flow
--   record of that account and region shows whether the logs really stopped.
-- attack: T1562.008
-- attack_v19: T1685.002
-- param: teardown_window duration 1h How soon a DeleteVpc must follow to count as a teardown
WITH d AS (
  SELECT event_time, event_id, user_arn, source_ip, user_agent, account_id, aws_region, error_code,
         coalesce(json_get_str(request_parameters, 'DeleteFlowLogsRequest', 'FlowLogId', 'content'),
                  json_get_json(request_parameters, 'DeleteFlowLogsRequest', 'FlowLogId'),
                  json_get_json(request_parameters, 'flowLogIds')) AS flow_log_ids
  FROM cloudtrail
  WHERE event_name = 'DeleteFlowLogs'
),
vpc_deleted AS (
  SELECT event_time, account_id, aws_region FROM cloudtrail
  WHERE event_name = 'DeleteVpc' AND error_code IS NULL
),
last_flows AS (
  SELECT account_id, region, max(start_time) AS last_flow_record FROM flow_logs GROUP BY account_id, region
),
matched AS (
  SELECT d.event_time, d.event_id, count(v.event_time) AS vpc_deletions
  FROM d LEFT JOIN vpc_deleted v
    ON v.account_id = d.account_id AND v.aws_region = d.aws_region
   AND v.event_time >= d.event_time AND v.event_time <= d.event_time + $teardown_window
  GROUP BY d.event_time, d.event_id
)
SELECT d.event_time, d.account_id, d.aws_region, d.flow_log_ids,
       CASE WHEN d.error_code IS NULL THEN 'deleted' ELSE 'attempt failed: ' || d.error_code END AS outcome,
       l.last_flow_record, d.user_arn AS actor_arn, d.source_ip, d.user_agent, d.event_id
FROM d
JOIN matched m ON m.event_id = d.event_id
LEFT JOIN last_flows l ON l.account_id = d.account_id AND l.region = d.aws_region
WHERE m.vpc_deletions = 0
ORDER BY d.event_time
