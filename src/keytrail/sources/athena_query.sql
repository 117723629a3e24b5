-- keytrail: the KMS calls of one time window, from a CloudTrail table as AWS documents it
-- ("Create the table for CloudTrail logs in Athena using partition projection", or the manually
-- partitioned and unpartitioned variants). Read by `keytrail ingest athena://DATABASE.TABLE`.
--
-- keytrail fills in three things before running it:
--   __TABLE__       "database"."table", as given on the command line
--   __PARTITIONS__  conditions on the partition columns, when the table has them, so that
--                   Athena reads only the days of the window: partition projection's
--                   "timestamp" ('yyyy/MM/dd'), or region/year/month/day
--   __FILTERS__     --regions and --accounts, when given
-- Every value (the window, days, Regions, accounts) is passed as an execution parameter (?):
-- the first two are the window, eventtime >= since AND eventtime < until ('YYYY-MM-DDTHH:MM:SSZ').
--
-- Struct columns are read field by field and resources[] as space-separated ARNs, so the rows
-- come back as plain strings; keytrail turns each row back into a CloudTrail record and reads
-- it with the same normaliser as log files.
SELECT
    eventid,
    eventtime,
    eventsource,
    eventname,
    awsregion,
    recipientaccountid,
    sharedeventid,
    errorcode,
    errormessage,
    sourceipaddress,
    useragent,
    vpcendpointid,
    requestparameters,
    useridentity.type AS ui_type,
    useridentity.principalid AS ui_principalid,
    useridentity.arn AS ui_arn,
    useridentity.accountid AS ui_accountid,
    useridentity.invokedby AS ui_invokedby,
    useridentity.accesskeyid AS ui_accesskeyid,
    useridentity.username AS ui_username,
    useridentity.onbehalfof.userid AS ui_onbehalfof_userid,
    useridentity.onbehalfof.identitystorearn AS ui_onbehalfof_identitystorearn,
    useridentity.sessioncontext.sessionissuer.type AS ui_issuer_type,
    useridentity.sessioncontext.sessionissuer.principalid AS ui_issuer_principalid,
    useridentity.sessioncontext.sessionissuer.arn AS ui_issuer_arn,
    useridentity.sessioncontext.sessionissuer.accountid AS ui_issuer_accountid,
    useridentity.sessioncontext.sessionissuer.username AS ui_issuer_username,
    array_join(transform(resources, r -> r.arn), ' ') AS resource_arns
FROM __TABLE__
WHERE eventsource = 'kms.amazonaws.com'
    AND eventtime >= ?
    AND eventtime < ?__PARTITIONS____FILTERS__
ORDER BY eventtime, eventid
