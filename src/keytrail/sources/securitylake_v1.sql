-- keytrail: the KMS calls of one time window, from Amazon Security Lake's table of CloudTrail
-- management events, source version 1 (OCSF 1.0.0-rc.2, API Activity):
--   amazon_security_lake_glue_db_REGION.amazon_security_lake_table_REGION_cloud_trail_mgmt_1_0
-- Read by `keytrail ingest athena://DATABASE.TABLE` when the table is Security Lake's.
--
-- Each column is one OCSF path, named as keytrail's mapping names it (keytrail.sources.ocsf_mapping.FIELDS
-- says which CloudTrail field each one becomes); a path the table lacks (GetTableMetadata) is
-- selected as NULL instead. Version 1 keeps requestParameters and responseElements in unmapped
-- (the CloudTrail fields OCSF does not map), which comes back as JSON text; resources[] as
-- space-separated values.
--
-- keytrail fills in two things before running it:
--   __TABLE__    "database"."table", as given on the command line
--   __FILTERS__  --regions and --accounts, on the partition columns region and accountid
-- Every value is an execution parameter (?): the days of the window on the partition eventday
-- ('YYYYMMDD', so only those days are scanned), the window itself in epoch milliseconds
-- ("time" >= since AND "time" < until), then the Regions and accounts.
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
    CAST(NULL AS varchar) AS request,
    CAST(NULL AS varchar) AS response,
    actor.user.type AS ui_type,
    actor.user.uuid AS ui_arn,
    actor.user.uid AS ui_principal_id,
    actor.user.account_uid AS ui_account,
    actor.user.credential_uid AS ui_access_key,
    actor.user.name AS ui_user_name,
    actor.invoked_by AS ui_invoked_by,
    actor.session.issuer AS ui_issuer,
    actor.idp.name AS ui_idp_name,
    CAST(NULL AS varchar) AS ui_idp_uid,
    cloud.account_uid AS cloud_account,
    accountid AS lake_account,
    array_join(transform(resources, r -> coalesce(r.uid, '')), ' ') AS resource_uids,
    array_join(transform(resources, r -> coalesce(r.account_uid, '')), ' ') AS resource_accounts,
    json_format(CAST(unmapped AS JSON)) AS unmapped
FROM __TABLE__
WHERE api.service.name = 'kms.amazonaws.com'
    AND eventday BETWEEN ? AND ?
    AND "time" >= CAST(? AS bigint)
    AND "time" < CAST(? AS bigint)__FILTERS__
ORDER BY "time", metadata.uid
