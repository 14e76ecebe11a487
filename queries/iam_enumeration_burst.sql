-- name: iam_enumeration_burst
-- title: Bursts of enumeration with errors
-- severity: high
-- description: One principal calling many different List, Describe and Get APIs within a few
--   minutes, some of them refused: someone finding out what a stolen credential may do. Audit
--   tools enumerate too, but with the rights to do so; the refusals set a stranger apart. A
--   refusal is a denial of rights (`is_refusal`: AccessDenied, UnauthorizedOperation,
--   NotAuthorized, ...), not an answer such as NoSuchBucketPolicy, which a console reading a
--   bucket's settings gets by the dozen.
-- attack: T1087.004, T1069.003, T1580
-- attack_v19: T1087.004, T1069.003, T1580
-- param: min_apis int 8 Different List/Describe/Get APIs within the window
-- param: min_errors int 1 Refused calls (denials of rights) among them
-- param: window_minutes int 15 Length of the window
WITH calls AS (
  SELECT event_time, account_id, user_arn, source_ip, event_source, event_name, error_code,
         arrow_cast(event_time, 'Int64') / ($window_minutes * 60000000) AS window_no
  FROM cloudtrail
  WHERE user_arn IS NOT NULL
    AND (event_name LIKE 'List%' OR event_name LIKE 'Describe%' OR event_name LIKE 'Get%')
    AND coalesce(user_type, '') NOT IN ('AWSService')
)
SELECT min(event_time) AS first_call, max(event_time) AS last_call, account_id, user_arn AS actor_arn,
       array_to_string(array_sort(array_agg(DISTINCT source_ip)), ', ') AS source_ips,
       count(*) AS calls, count(DISTINCT event_name) AS apis,
       sum(CASE WHEN coalesce(is_refusal(error_code), false) THEN 1 ELSE 0 END) AS refused,
       array_to_string(array_sort(array_agg(DISTINCT split_part(event_source, '.', 1))), ', ') AS services,
       array_to_string(array_slice(array_sort(array_agg(DISTINCT event_name)), 1, 12), ', ') AS apis_called
FROM calls
GROUP BY account_id, user_arn, window_no
HAVING count(DISTINCT event_name) >= $min_apis AND sum(CASE WHEN coalesce(is_refusal(error_code), false) THEN 1 ELSE 0 END) >= $min_errors
ORDER BY first_call
