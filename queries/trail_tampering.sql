-- name: trail_tampering
-- title: CloudTrail stopped, deleted or narrowed
-- severity: critical
-- description: StopLogging, DeleteTrail, and the changes that narrow what a trail records:
--   UpdateTrail to one region, without global service events, without log file validation or to
--   another bucket; event selectors that switch management events off, record only reads or only
--   writes, or exclude event sources; advanced selectors without a management selector; and the
--   CloudTrail Lake equivalents (StopEventDataStoreIngestion, DeleteEventDataStore). Changes that
--   add coverage (a new trail, logging started, data events added, the selectors that the same
--   principal and tool give a trail it created within the hour) are not listed. Failed
--   attempts are kept: an AccessDenied on StopLogging is an intruder testing what they can do.
-- attack: T1562.008
-- attack_v19: T1685.002
WITH changes AS (
  SELECT event_time, account_id, aws_region, event_name,
         coalesce(json_get_str(request_parameters, 'name'), json_get_str(request_parameters, 'trailName'),
                  json_get_str(request_parameters, 'eventDataStore')) AS trail,
         CASE event_name
           WHEN 'StopLogging' THEN 'logging stopped'
           WHEN 'DeleteTrail' THEN 'trail deleted'
           WHEN 'UpdateTrail' THEN 'trail narrowed: ' || concat_ws(', ',
                CASE WHEN json_get_bool(request_parameters, 'isMultiRegionTrail') = false THEN 'one region only' END,
                CASE WHEN json_get_bool(request_parameters, 'includeGlobalServiceEvents') = false THEN 'global service events off' END,
                CASE WHEN json_get_bool(request_parameters, 'enableLogFileValidation') = false THEN 'log file validation off' END,
                CASE WHEN json_get_str(request_parameters, 's3BucketName') IS NOT NULL THEN 'delivered to bucket ' || json_get_str(request_parameters, 's3BucketName') END)
           WHEN 'PutAdvancedEventSelectors' THEN 'advanced event selectors without management events'
           WHEN 'StopEventDataStoreIngestion' THEN 'event data store ingestion stopped'
           WHEN 'DeleteEventDataStore' THEN 'event data store deleted'
           ELSE CASE WHEN regexp_like(CAST(request_parameters AS VARCHAR), '"includeManagementEvents"\s*:\s*false')
                     THEN 'event selectors changed: management events off'
                     ELSE 'event selectors changed: fewer events recorded' END
         END AS what,
         CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
         user_arn AS actor_arn, source_ip, user_agent, request_parameters, event_id
  FROM cloudtrail
  WHERE event_source = 'cloudtrail.amazonaws.com'
    AND (event_name IN ('StopLogging', 'DeleteTrail', 'StopEventDataStoreIngestion', 'DeleteEventDataStore')
      OR (event_name = 'UpdateTrail'
          AND (json_get_bool(request_parameters, 'isMultiRegionTrail') = false
            OR json_get_bool(request_parameters, 'includeGlobalServiceEvents') = false
            OR json_get_bool(request_parameters, 'enableLogFileValidation') = false
            OR json_get_str(request_parameters, 's3BucketName') IS NOT NULL))
      OR (event_name = 'PutEventSelectors'
          AND (regexp_like(CAST(request_parameters AS VARCHAR), '"includeManagementEvents"\s*:\s*false')
            OR regexp_like(CAST(request_parameters AS VARCHAR), '"readWriteType"\s*:\s*"(ReadOnly|WriteOnly)"')
            OR regexp_like(CAST(request_parameters AS VARCHAR), '"excludeManagementEventSources"\s*:\s*\[\s*"')))
      OR (event_name = 'PutAdvancedEventSelectors'
          AND NOT regexp_like(CAST(request_parameters AS VARCHAR), '"(equals|Equals)"\s*:\s*\[\s*"Management"')))
),
created AS (
  -- Trails set up in the evidence: their first selectors define them, they narrow nothing.
  SELECT event_time AS created_at, json_get_str(request_parameters, 'name') AS name,
         json_get_str(response_elements, 'trailARN') AS arn, user_arn, user_agent
  FROM cloudtrail
  WHERE event_source = 'cloudtrail.amazonaws.com' AND event_name = 'CreateTrail' AND error_code IS NULL
)
SELECT c.*
FROM changes c
LEFT JOIN created n
  ON c.event_name IN ('PutEventSelectors', 'PutAdvancedEventSelectors')
 AND (n.name = c.trail OR n.arn = c.trail)
 -- by the same principal with the same tool (infrastructure-as-code, the console) right after
 AND n.user_arn = c.actor_arn AND n.user_agent = c.user_agent
 AND n.created_at <= c.event_time AND c.event_time < n.created_at + INTERVAL '1 hour'
WHERE n.created_at IS NULL
ORDER BY c.event_time
