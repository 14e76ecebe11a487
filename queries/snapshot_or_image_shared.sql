-- name: snapshot_or_image_shared
-- title: Snapshots and images shared with other accounts or made public
-- severity: high
-- description: ModifySnapshotAttribute (createVolumePermission), ModifyImageAttribute
--   (launchPermission) and the RDS snapshot attribute changes that add an account or "all": a
--   copy of the disk or database leaves through a share, with no data transfer in the flow logs.
-- attack: T1537
-- attack_v19: T1537
SELECT event_time, account_id, aws_region, event_name,
       coalesce(json_get_str(request_parameters, 'snapshotId'), json_get_str(request_parameters, 'imageId'),
                json_get_str(request_parameters, 'dBSnapshotIdentifier'), json_get_str(request_parameters, 'dBClusterSnapshotIdentifier')) AS resource,
       CASE WHEN strpos(lower(CAST(request_parameters AS VARCHAR)), '"all"') > 0 THEN 'public'
            ELSE array_to_string(regexp_match(CAST(request_parameters AS VARCHAR), '([0-9]{12})'), ', ') END AS shared_with,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE ((event_name = 'ModifySnapshotAttribute' AND strpos(CAST(request_parameters AS VARCHAR), 'createVolumePermission') > 0
        AND strpos(CAST(request_parameters AS VARCHAR), '"add"') > 0)
    OR (event_name = 'ModifyImageAttribute' AND strpos(CAST(request_parameters AS VARCHAR), 'launchPermission') > 0
        AND strpos(CAST(request_parameters AS VARCHAR), '"add"') > 0)
    OR (event_name IN ('ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute')
        AND json_get(request_parameters, 'valuesToAdd') IS NOT NULL))
ORDER BY event_time
