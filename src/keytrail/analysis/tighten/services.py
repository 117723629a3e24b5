"""What a key policy must keep for AWS, as AWS's pages say: the management actions, the services
that support ``kms:ViaService``, what each service integration needs besides the calls seen, and
the encryption-context keys a condition may test.

Sources (the AWS Key Management Service Developer Guide unless named): "Default key policy"
(the account statement, the key administrators statement, "Allow attachment of persistent
resources"), "AWS KMS condition keys" (``kms:ViaService`` and its table of services,
``kms:EncryptionContext:context-key``, ``kms:GrantIsForAWSResource``), "Permissions for AWS
services in key policies", the Amazon EBS User Guide ("Permissions for users"), the AWS
CloudTrail User Guide ("Configure AWS KMS key policies for CloudTrail") and the IAM User Guide
(``aws:PrincipalArn`` with the root user's ARN limits a statement to the root user).
"""

from __future__ import annotations

from dataclasses import dataclass

from keytrail.analysis.policy_doc import CRYPTO_ACTIONS, action_matches

KMS_GUIDE = "https://docs.aws.amazon.com/kms/latest/developerguide/"

# The key administrators statement of AWS's default key policy (key-policy-default.html), with the
# permissions AWS adds for special-purpose keys (imported key material, multi-Region keys) and
# on-demand rotation. None of these patterns matches a cryptographic action (a test checks it).
MANAGEMENT_ACTIONS: tuple[str, ...] = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
    "kms:ImportKeyMaterial",
    "kms:ReplicateKey",
    "kms:RetireGrant",
)

# Every action a key policy can allow on a key (the KMS key resource operations), for comparing
# what a policy allows before and after.
KEY_ACTIONS: tuple[str, ...] = tuple(
    sorted(
        {
            *CRYPTO_ACTIONS,
            "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:DeleteAlias",
            "kms:DeleteImportedKeyMaterial", "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation",
            "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
            "kms:GetParametersForImport", "kms:GetPublicKey", "kms:ImportKeyMaterial", "kms:ListGrants",
            "kms:ListKeyPolicies", "kms:ListKeyRotations", "kms:ListResourceTags", "kms:PutKeyPolicy",
            "kms:ReplicateKey", "kms:RetireGrant", "kms:RevokeGrant", "kms:RotateKeyOnDemand",
            "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
            "kms:UpdateKeyDescription", "kms:UpdatePrimaryRegion",
        }
    )
)  # fmt: skip

CRYPTO_SET = frozenset(CRYPTO_ACTIONS)

# Operations that take an encryption context: the only ones a kms:EncryptionContext condition may
# be put on ("If you use these condition keys to allow other operations, such as DescribeKey,
# permission will be denied").
CONTEXT_ACTIONS = frozenset(
    {
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    }
)

# Services that support kms:ViaService (conditions-kms.html#viaService_table): the first label of
# the host CloudTrail names in ``invokedBy``; the condition's value is ``LABEL.REGION.amazonaws.com``.
VIA_SERVICES = frozenset(
    {
        "airflow", "appflow", "apprunner", "athena", "auditmanager", "backup", "backup-gateway", "cassandra",
        "codeartifact", "codeguru-reviewer", "comprehend", "connect", "directoryservice", "dms", "dynamodb", "ec2",
        "ecr", "eks", "elasticfilesystem", "es", "finspace", "firehose", "forecast", "fsx", "geo", "glue",
        "groundstation", "healthlake", "importexport", "iotsitewise", "kafka", "kendra", "kinesis", "kinesisvideo",
        "lambda", "lex", "license-manager", "lookoutequipment", "lookoutmetrics", "lookoutvision", "macie",
        "malware-protection", "managedblockchain", "mediatailor", "memorydb", "mgn", "monitron", "mq", "nimble",
        "omics", "profile", "proton", "qldb", "rds", "redshift", "redshift-serverless", "rekognition", "s3",
        "sagemaker", "secretsmanager", "ses", "sns", "sqs", "sqlworkbench", "ssm", "ssm-contacts", "ssm-incidents",
        "storagegateway", "timestream", "translate", "wisdom", "workmail", "workspaces", "workspaces-web", "xray",
    }
)  # fmt: skip


def service_label(host: str | None) -> str | None:
    """``s3`` for ``s3.amazonaws.com``; None for what is not a service host (``AWS Internal``)."""
    if not host or not host.endswith(".amazonaws.com") or host.count(".") != 2:
        return None
    return host.split(".", 1)[0]


def via_service(host: str | None, region: str) -> str | None:
    """The ``kms:ViaService`` value of a call a service made on a principal's behalf (``invokedBy``
    host), in the key's Region; None when the host is not a service that supports the condition."""
    label = service_label(host)
    return f"{label}.{region}.amazonaws.com" if label in VIA_SERVICES else None


@dataclass(frozen=True)
class Integration:
    """What a principal that uses a key through a service (or a service principal itself) needs
    in the key policy besides the calls seen, and the AWS page that says so."""

    name: str
    actions: tuple[str, ...]  # kept besides the calls seen
    grant_for_aws_resource: bool  # CreateGrant only when the grant is for an AWS resource
    doc: str


_PERSISTENT = KMS_GUIDE + "key-policy-default.html#key-policy-service-integration"

# keyed by the service host CloudTrail names (``invokedBy``, or an AWSService principal)
INTEGRATIONS: dict[str, Integration] = {
    "ec2.amazonaws.com": Integration(
        "Amazon EBS", ("kms:CreateGrant", "kms:DescribeKey"), True,
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html",
    ),
    "rds.amazonaws.com": Integration("Amazon RDS", ("kms:CreateGrant", "kms:DescribeKey"), True, _PERSISTENT),
    "dynamodb.amazonaws.com": Integration("Amazon DynamoDB", ("kms:CreateGrant", "kms:DescribeKey"), True, _PERSISTENT),
    "redshift.amazonaws.com": Integration("Amazon Redshift", ("kms:CreateGrant", "kms:DescribeKey"), True, _PERSISTENT),
    "s3.amazonaws.com": Integration("Amazon S3", (), False, KMS_GUIDE + "services-s3.html"),
    "secretsmanager.amazonaws.com": Integration("AWS Secrets Manager", (), False, KMS_GUIDE + "services-secrets-manager.html"),
    "lambda.amazonaws.com": Integration("AWS Lambda", (), False, KMS_GUIDE + "conditions-kms.html#conditions-kms-via-service"),
    "cloudtrail.amazonaws.com": Integration(
        "AWS CloudTrail", ("kms:DescribeKey",), False,
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ContextKey:
    """An encryption-context key a condition may test, and how its values become condition values:
    ``bucket`` (S3: the bucket ARN and everything under it), ``account`` (a pattern per account,
    as AWS's CloudTrail policy has it) or ``exact`` (the values seen)."""

    key: str
    service: str
    form: str
    doc: str


CONTEXT_KEYS: tuple[ContextKey, ...] = (
    ContextKey("aws:s3:arn", "Amazon S3", "bucket",
               "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context"),
    ContextKey("aws:cloudtrail:arn", "AWS CloudTrail", "account",
               "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html"),
    ContextKey("aws:logs:arn", "Amazon CloudWatch Logs", "exact",
               "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"),
    ContextKey("SecretARN", "AWS Secrets Manager", "exact",
               "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html"),
    ContextKey("PARAMETER_ARN", "AWS Systems Manager Parameter Store", "exact", KMS_GUIDE + "services-parameter-store.html"),
    ContextKey("aws:lambda:FunctionArn", "AWS Lambda", "exact",
               "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html"),
    ContextKey("aws:dynamodb:tableName", "Amazon DynamoDB", "exact",
               "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html"),
    ContextKey("aws:rds:db-id", "Amazon RDS", "exact", KMS_GUIDE + "services-rds.html"),
)  # fmt: skip
"""In order of preference; ``aws:ebs:id`` is left out: a new volume or snapshot has a new id."""

MAX_CONDITION_VALUES = 10  # more distinct values than this: no condition (it would not stay true)


def is_crypto(action: str) -> bool:
    return action in CRYPTO_SET


def matches_crypto(pattern: str) -> bool:
    """Whether an action pattern allows some cryptographic action (``kms:*``, ``kms:Re*``)."""
    return any(action_matches(pattern, a) for a in CRYPTO_ACTIONS)
