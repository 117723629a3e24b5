-- keytrail: the KMS calls of one time window, from a CloudTrail Lake event data store of
-- CloudTrail events (the schema of "Supported SQL schemas for event data stores"). Read by
-- `keytrail ingest lake://EVENT_DATA_STORE`.
--
-- CloudTrail Lake's StartQuery takes no parameters for a statement, so keytrail fills in three
-- values it made itself, never anything read from a log:
--   __EVENT_DATA_STORE__  the event data store's id (letters, digits and -, checked)
--   __SINCE__, __UNTIL__  the window, eventtime >= since AND eventtime < until, as
--                         'YYYY-MM-DD HH:MM:SS' (UTC)
--
-- Lake keeps userIdentity and resources as structs, and requestParameters as a map of strings, so
-- the query reads them field by field and the rows come back as plain strings; keytrail turns each
-- row back into a CloudTrail record and reads it with the same normaliser as log files. Only the
-- request parameters the normaliser reads are taken (a nested one, the encryption context, comes
-- back as text and is parsed again). The result is billed by the bytes scanned: keytrail names
-- them on stderr.
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
    element_at(requestparameters, 'keyId') AS rp_keyid,
    element_at(requestparameters, 'sourceKeyId') AS rp_sourcekeyid,
    element_at(requestparameters, 'destinationKeyId') AS rp_destinationkeyid,
    element_at(requestparameters, 'targetKeyId') AS rp_targetkeyid,
    element_at(requestparameters, 'aliasName') AS rp_aliasname,
    element_at(requestparameters, 'encryptionContext') AS rp_encryptioncontext,
    useridentity.type AS ui_type,
    useridentity.principalid AS ui_principalid,
    useridentity.arn AS ui_arn,
    useridentity.accountid AS ui_accountid,
    useridentity.invokedby AS ui_invokedby,
    useridentity.accesskeyid AS ui_accesskeyid,
    useridentity.username AS ui_username,
    useridentity.identityprovider AS ui_identityprovider,
    useridentity.onbehalfof.userid AS ui_onbehalfof_userid,
    useridentity.onbehalfof.identitystorearn AS ui_onbehalfof_identitystorearn,
    useridentity.sessioncontext.sessionissuer.type AS ui_issuer_type,
    useridentity.sessioncontext.sessionissuer.principalid AS ui_issuer_principalid,
    useridentity.sessioncontext.sessionissuer.arn AS ui_issuer_arn,
    useridentity.sessioncontext.sessionissuer.accountid AS ui_issuer_accountid,
    useridentity.sessioncontext.sessionissuer.username AS ui_issuer_username,
    array_join(transform(resources, r -> r.arn), ' ') AS resource_arns
FROM __EVENT_DATA_STORE__
WHERE eventsource = 'kms.amazonaws.com'
    AND eventtime >= '__SINCE__'
    AND eventtime < '__UNTIL__'
ORDER BY eventtime, eventid
