-- name: security_services_disabled
-- title: GuardDuty, Security Hub, Config and other security services disabled
-- severity: critical
-- description: GuardDuty detectors deleted, disabled or cut from their administrator account, or
--   findings archived by a new filter; Security Hub and its standards disabled; AWS Config's
--   recorder stopped or deleted and its delivery channel removed; Access Analyzer, Macie,
--   Detective and Inspector switched off; and the account leaving its organization (its service
--   control policies, organization trail and delegated security services stop applying). Failed
--   attempts are kept: they show intent.
-- attack: T1562.001
-- attack_v19: T1685
SELECT event_time, account_id, aws_region, split_part(event_source, '.', 1) AS service, event_name,
       CASE
         WHEN event_name = 'UpdateDetector' THEN 'detector disabled'
         WHEN event_name = 'CreateFilter' THEN 'findings archived by filter ' || coalesce(json_get_str(request_parameters, 'name'), '?')
         WHEN event_name IN ('LeaveOrganization', 'RemoveAccountFromOrganization') THEN 'account out of its organization'
         ELSE regexp_replace(event_name, '([a-z])([A-Z])', '\1 \2', 'g')
       END AS what,
       CASE WHEN error_code IS NULL THEN 'succeeded' ELSE 'failed: ' || error_code END AS outcome,
       user_arn AS actor_arn, source_ip, user_agent, event_id
FROM cloudtrail
WHERE (event_source = 'guardduty.amazonaws.com'
       AND (event_name IN ('DeleteDetector', 'DisassociateFromMasterAccount', 'DisassociateFromAdministratorAccount', 'DeletePublishingDestination')
            OR (event_name = 'UpdateDetector' AND json_get_bool(request_parameters, 'enable') = false)
            OR (event_name = 'CreateFilter' AND upper(coalesce(json_get_str(request_parameters, 'action'), '')) = 'ARCHIVE')))
   OR (event_source = 'securityhub.amazonaws.com' AND event_name IN ('DisableSecurityHub', 'BatchDisableStandards', 'DisassociateFromAdministratorAccount'))
   OR (event_source = 'config.amazonaws.com' AND event_name IN ('StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel'))
   OR (event_source = 'access-analyzer.amazonaws.com' AND event_name = 'DeleteAnalyzer')
   OR (event_source = 'macie2.amazonaws.com' AND event_name = 'DisableMacie')
   OR (event_source = 'detective.amazonaws.com' AND event_name = 'DeleteGraph')
   OR (event_source = 'inspector2.amazonaws.com' AND event_name = 'Disable')
   OR (event_source = 'organizations.amazonaws.com' AND event_name IN ('LeaveOrganization', 'RemoveAccountFromOrganization'))
ORDER BY event_time
