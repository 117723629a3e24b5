-- keytrail: the KMS calls of one time window, from Amazon Security Lake's table of CloudTrail
-- management events, source version 2 (OCSF 1.1.0, API Activity):
--   amazon_security_lake_glue_db_REGION.amazon_security_lake_table_REGION_cloud_trail_mgmt_2_0
-- Read by `keytrail ingest athena://DATABASE.TABLE` when the table is Security Lake's.
--
-- Each column is one OCSF path, named as keytrail's mapping names it (keytrail.sources.ocsf_mapping.FIELDS
-- says which CloudTrail field each one becomes); a path the table lacks (GetTableMetadata) is
-- selected as NULL instead. resources[] comes back as space-separated values, unmapped (the
-- CloudTrail fields OCSF does not map: recipientAccountId, sharedEventID, ...) as JSON text.
--
-- keytrail fills in two things before running it:
--   __TABLE__    "database"."table", as given on the command line
--   __FILTERS__  --regions and --accounts, on the partition columns region and accountid
-- Every value is an execution parameter (?): the window, time_dt >= since AND time_dt < until
-- (ISO-8601; time_dt is the table's partition, so only the window's data is scanned), then
-- the Regions and accounts.
SELECT
    metadata.uid AS event_id,
    "time" AS event_time,
    api.service.name AS event_source,
    api.operation AS event_name,
    cloud.region AS aws_region,
    api.response.error AS error_code,
    api.response.message AS error_message,
    src_endpoint.ip AS src_ip,
    src_endpoint.domain AS src_domain,
    src_endpoint.uid AS vpc_endpoint,
    http_request.user_agent AS user_agent,
    api.request.data AS request,
    api.response.data AS response,
    actor.user.type AS ui_type,
    actor.user.uid AS ui_arn,
    actor.user.uid_alt AS ui_principal_id,
    actor.user.account.uid AS ui_account,
    actor.user.credential_uid AS ui_access_key,
    actor.user.name AS ui_user_name,
    actor.invoked_by AS ui_invoked_by,
    actor.session.issuer AS ui_issuer,
    actor.idp.name AS ui_idp_name,
    actor.idp.uid AS ui_idp_uid,
    cloud.account.uid AS cloud_account,
    accountid AS lake_account,
    array_join(transform(resources, r -> coalesce(r.uid, '')), ' ') AS resource_uids,
    array_join(transform(resources, r -> coalesce(r.owner.account.uid, '')), ' ') AS resource_accounts,
    json_format(CAST(unmapped AS JSON)) AS unmapped
FROM __TABLE__
WHERE api.service.name = 'kms.amazonaws.com'
    AND time_dt >= from_iso8601_timestamp(?)
    AND time_dt < from_iso8601_timestamp(?)__FILTERS__
ORDER BY "time", metadata.uid
