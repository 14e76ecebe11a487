-- name: trail_tampering
-- title: CloudTrail stopped, deleted or narrowed
-- severity: critical
-- description: StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors and
--   PutAdvancedEventSelectors (management events switched off, data events dropped), and the
--   CloudTrail Lake equivalents (StopEventDataStoreIngestion, DeleteEventDataStore). Failed
--   attempts are kept: an AccessDenied on StopLogging is an intruder testing what they can do.
-- attack: T1562.008
-- attack_v19: T1685.002
SELECT event_time, account_id, aws_region, event_name,
       coalesce(json_get_str(request_parameters, 'name'), json_get_str(request_parameters, 'trailName'),
                json_get_str(request_parameters, 'eventDataStore')) AS trail,
       CASE event_name
         WHEN 'StopLogging' THEN 'logging stopped'
         WHEN 'DeleteTrail' THEN 'trail deleted'
         WHEN 'UpdateTrail' THEN 'trail settings changed'
         WHEN 'StopEventDataStoreIngestion' THEN 'event data store ingestion stopped'
         WHEN 'DeleteEventDataStore' THEN 'event data store deleted'
         ELSE CASE WHEN strpos(CAST(request_parameters AS VARCHAR), '"includeManagementEvents":false') > 0
                   THEN 'event selectors changed: management events off'
                   ELSE 'event selectors changed' END
       END AS what,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, request_parameters, event_id
FROM cloudtrail
WHERE event_source = 'cloudtrail.amazonaws.com'
  AND event_name IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors',
                     'PutAdvancedEventSelectors', 'StopEventDataStoreIngestion', 'DeleteEventDataStore')
ORDER BY event_time
