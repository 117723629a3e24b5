"""Archives with known answers: a CloudTrail archive generated from a seed, and its truth -- who used
which key, and how -- computed from what was written.

    truth = write_archive(tmp_path / "trail", seed=5, events=6000, accounts=3, external=1, org=True)

writes, deterministically (the same options, the same bytes)::

    OUT/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz
        log files (every ``plain_every``-th one a plain ``.json``), named by delivery time
    OUT/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/...json.gz
        digest placeholders, one an hour: unsigned, listing nothing -- not logs, never verified
    OUT/inventory/ACCOUNT/REGION/list-aliases.json, describe-key/KEYID.json, get-key-policy/KEYID.json
        the key inventory at the end of the window, as ``aws kms ... --output json`` prints it
    OUT/truth.json
        the answer (below)

What the archive holds. ``accounts`` accounts (the last ``external`` of them outside the archive:
none of their log files is written, so their principals appear only as hidden ``AWSAccount``
callers -- except a partner role whose S3 reads in the archive's accounts show its identity,
unless ``partner_reads=False``) and
``regions`` Regions. Per account and Region: four or five customer managed keys with aliases (the
first a multi-Region ``mrk-`` key), one key scheduled for deletion at 70 % of the window (every
later call on it fails ``KMSInvalidStateException`` "ARN is pending deletion."), one key created
in the window and never used, one key only the inventory knows, and two AWS managed keys
(``alias/aws/s3``, ``alias/aws/ebs``). Callers: IAM users (with paths), role sessions (roles with
paths: a service role, an Identity Center role under ``/aws-reserved/sso.amazonaws.com/``, a Lambda
role, a GitHub Actions role) whose credentials STS ``AssumeRole``, ``AssumeRoleWithSAML`` and
``AssumeRoleWithWebIdentity`` records hand out, the root user, a federated user, an Identity
Center user, AWS services in their own name (``cloudtrail.amazonaws.com``, ``logs.amazonaws.com``)
and on a caller's behalf (``invokedBy``). Calls of every class (encrypt, decrypt, sign, admin, and
failed ones), ReEncrypt (also onto its own key, also denied), keys named by key ARN, bare id, alias
name and alias ARN (aliases created, retargeted and deleted and created again over the window;
denied calls through an alias name the key only as the caller did, and a few calls carry no
resources[]), cross-account calls logged twice with one ``sharedEventID`` (a denied one only in
the caller's account), records re-delivered in later files, KMS calls that name no key, and calls
of other services.

The truth (``truth.json``, in the shape of ``../shared/tools/gen_trail.py``'s, so one comparison
serves both) follows the README's *How calls are counted*. The generator records each call as it
writes its records: the keys it names and the class on each (ReEncrypt: decrypt on its source,
encrypt on its destination; a failed call: denied once per distinct key), and its caller. A call
counts when at least one of its records was written; its principal is the caller's canonical name
when a written record shows the full identity, else (only the key owner's hidden copy was written)
the ARN its unique id has in any written record's ``userIdentity``, else ``AWSAccount:ACCOUNT:ID``
(root and federated callers are named by their ids). A re-delivered record is the same call.

* ``keys``: ``{key ARN: {principal: {encrypt|decrypt|sign|admin|denied: n}}}``;
* ``accounts``, ``external_accounts``, ``regions``;
* ``customer_managed_keys`` (of the archive's accounts), ``..._without_crypto_use`` (no successful
  encrypt, decrypt or sign), ``..._seen_without_crypto_use`` (those the archive mentions: created,
  aliased, managed or refused -- each shows it is customer managed), ``keys_pending_deletion``,
  ``aws_managed_keys``;
* ``calls`` (KMS calls counted), ``events`` (calls made), ``records_written``, ``files``,
  ``redelivered_records``.

``python -m tests.factory.archive OUT [--seed S] [--events N] ...`` writes one from the command line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests import factory as f

REGIONS = ("us-east-1", "eu-west-1", "ap-northeast-1", "us-west-2", "eu-central-1", "ap-southeast-2")
ORG = "o-k3ytra1l5x"
START = datetime(2026, 10, 1, tzinfo=UTC)
ALIASES = ("alias/app-data", "alias/orders", "alias/backup", "alias/audit", "alias/reports")
CHURNED = ("alias/app-data", "alias/orders")  # retargeted at 20, 40 and 80 % of the window
RECREATED = "alias/backup"  # deleted at 60 %, then created again on another key
AWS_KEYS = ("s3", "ebs")
SERVICES = ("cloudtrail.amazonaws.com", "logs.amazonaws.com")
ENCRYPT = ("GenerateDataKey", "GenerateDataKey", "Encrypt", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
           "GenerateDataKeyPairWithoutPlaintext")
SIGN = ("Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret")
ADMIN = ("DescribeKey", "GetKeyPolicy", "ListGrants", "CreateGrant", "GetKeyRotationStatus", "EnableKeyRotation",
         "TagResource", "ListResourceTags")
ADMIN_CROSS_ACCOUNT = ("DescribeKey", "CreateGrant")  # the management calls KMS allows on another account's key
NO_KEY = ("ListKeys", "ListAliases", "GenerateRandom")
CRYPTO = ("encrypt", "decrypt", "sign")
AGENTS = (
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9",
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.220 lang/python#3.12.4 Botocore/1.34.144",
    "aws-sdk-java/2.25.60 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11",
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/kms#1.35.3",
)
OTHER_CALLS = (
    ("s3.amazonaws.com", "GetObject"), ("s3.amazonaws.com", "PutObject"), ("ec2.amazonaws.com", "DescribeInstances"),
    ("iam.amazonaws.com", "ListRoles"), ("sts.amazonaws.com", "GetCallerIdentity"), ("lambda.amazonaws.com", "Invoke"),
    ("dynamodb.amazonaws.com", "GetItem"), ("secretsmanager.amazonaws.com", "GetSecretValue"),
    ("logs.amazonaws.com", "CreateLogStream"),
)


@dataclass(frozen=True)
class Options:
    """What to generate. The time between calls follows ``per_file``: each account's and Region's log
    file of five minutes holds about that many records (unless ``days`` spreads the calls over days)."""

    events: int = 3000  # calls made: KMS calls (about 55 %) and calls of other services
    seed: int = 1
    accounts: int = 3
    regions: int | tuple[str, ...] = 2  # how many of REGIONS, or their names
    org: bool = False  # an organisation trail: AWSLogs/o-ORG/ACCOUNT/...
    external: int = 0  # the last N accounts are outside the archive
    plain_every: int = 0  # every K-th log file is written uncompressed (.json)
    per_file: int = 200
    days: float | None = None  # spread the calls over this many days instead
    redeliver: float = 0.003  # the share of records delivered a second time, in later files
    vpc_endpoints: bool = True  # some calls come through VPC endpoints (vpcEndpointId)
    partner_reads: bool = True  # another organisation's role reads S3 in the archive's accounts, showing its identity

    def region_names(self) -> tuple[str, ...]:
        return REGIONS[: self.regions] if isinstance(self.regions, int) else tuple(self.regions)


@dataclass
class Key:
    arn: str
    account: str
    region: str
    id: str
    customer: bool
    kind: str  # active | retiring | dormant | idle | aws
    description: str = ""
    service: str = ""  # an AWS managed key's service (alias/aws/SERVICE)


@dataclass
class Principal:
    kind: str  # IAMUser | AssumedRole | Root | FederatedUser | IdentityCenterUser | AWSService
    account: str | None
    name: str
    path: str = "/"
    uid: str = ""
    session: str = ""  # a role's current session, and its access key id
    akid: str = ""
    store: str = ""  # an Identity Center user's identity store (d-...)

    @property
    def arn(self) -> str:
        """The canonical principal (README, *How calls are counted*)."""
        acct = self.account or ""
        if self.kind == "IAMUser":
            return f.user_arn(self.name, acct, self.path)
        if self.kind == "AssumedRole":
            return f.role_arn(self.name, acct, self.path)
        if self.kind == "Root":
            return f"arn:aws:iam::{acct}:root"
        if self.kind == "FederatedUser":
            return f"arn:aws:sts::{acct}:federated-user/{self.name}"
        if self.kind == "IdentityCenterUser":
            return f"identitycenter:arn:aws:identitystore::{acct}:identitystore/{self.store}/user/{self.uid}"
        return self.name


@dataclass
class Call:
    """One call as the truth counts it: the keys it names with their class, and its caller."""

    caller: Principal
    uses: list[tuple[str, str]]  # (key ARN, encrypt | decrypt | sign | admin | denied)
    full: bool = False  # a written record shows the caller's full identity
    hidden: bool = False  # only the key owner's hidden copy was written


@dataclass
class _File:
    records: list[dict[str, Any]] = field(default_factory=list)
    slot: datetime = START


class _Generator:
    def __init__(self, opts: Options) -> None:
        if not 0 <= opts.external < opts.accounts:
            raise ValueError("external must leave at least one account in the archive")
        self.o = opts
        self.r = random.Random(opts.seed)
        self.regions = opts.region_names()
        self.accounts = [str(self.r.randrange(10**11, 10**12)) for _ in range(opts.accounts)]
        self.external = self.accounts[len(self.accounts) - opts.external:] if opts.external else []
        self.internal = [a for a in self.accounts if a not in self.external]
        self.keys: dict[tuple[str, str], list[Key]] = {}
        self.aliases: dict[tuple[str, str, str], Key] = {}  # as they stand now
        self.alias_changed: dict[tuple[str, str, str], datetime] = {}
        self.deleting: list[str] = []
        self.principals: dict[str, list[Principal]] = {}
        self.calls: list[Call] = []
        self.shown_uids: dict[str, str] = {}  # unique id -> ARN, from written full identities
        self.pending: dict[tuple[str, str], _File] = {}
        self.redelivered: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.digested: set[tuple[str, str, datetime]] = set()
        self.files = self.records_written = 0
        self.out = Path()
        self.t = START
        self._world()

    # ---- ids -------------------------------------------------------------------------------------

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def b32(self, n: int) -> str:
        return "".join(self.r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))

    def hex(self, n: int) -> str:
        return f"{self.r.getrandbits(4 * n):0{n}x}"

    def ip(self) -> str:
        return f"{self.r.choice((3, 18, 52, 198, 203))}.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"

    # ---- the world: keys, aliases, principals ------------------------------------------------------

    def _world(self) -> None:
        for acct in self.accounts:
            for i, region in enumerate(self.regions):
                keys = []
                for j in range(self.r.randint(4, 5)):
                    kid = f"mrk-{self.hex(32)}" if i == 0 and j == 0 else self.uuid()
                    keys.append(Key(f.key_arn(kid, acct, region), acct, region, kid, True, "active", ALIASES[j][6:]))
                for kind in ("retiring", "dormant", "idle"):
                    kid = self.uuid()
                    keys.append(Key(f.key_arn(kid, acct, region), acct, region, kid, True, kind, f"{kind} key"))
                for svc in AWS_KEYS:
                    kid = self.uuid()
                    keys.append(Key(f.key_arn(kid, acct, region), acct, region, kid, False, "aws",
                                    f"Default key that protects my {svc.upper()} data when no other key is defined", svc))
                self.keys[(acct, region)] = keys
                for name, key in zip(ALIASES, self.active(acct, region), strict=False):
                    self.aliases[(acct, region, name)] = key
                    self.alias_changed[(acct, region, name)] = START
            sso = f"AWSReservedSSO_AdministratorAccess_{self.hex(16)}"
            people = [
                Principal("IAMUser", acct, "alice"), Principal("IAMUser", acct, "bob"),
                Principal("IAMUser", acct, "ci-deployer", "/automation/"),
                Principal("IAMUser", acct, "backup-agent", "/system/"),
                Principal("AssumedRole", acct, "AppServerRole", "/service-role/"),
                Principal("AssumedRole", acct, "DataPipelineRole"),
                Principal("AssumedRole", acct, sso, f"/aws-reserved/sso.amazonaws.com/{self.regions[0]}/"),
                Principal("AssumedRole", acct, "orders-api-role", "/service-role/lambda/"),
                Principal("AssumedRole", acct, "GitHubDeployRole"),
                Principal("AssumedRole", acct, "PartnerReader"),
                Principal("Root", acct, "root"), Principal("FederatedUser", acct, "carol"),
                Principal("IdentityCenterUser", acct, "user", store=f"d-{self.hex(10)}"),
            ]
            for p in people:
                if p.kind in ("IAMUser", "AssumedRole"):
                    p.uid = ("AIDA" if p.kind == "IAMUser" else "AROA") + self.b32(17)
                elif p.kind == "IdentityCenterUser":
                    p.uid = self.uuid()
            self.principals[acct] = people

    def active(self, acct: str, region: str) -> list[Key]:
        return [k for k in self.keys[(acct, region)] if k.kind == "active"]

    def of_kind(self, acct: str, region: str, kind: str) -> list[Key]:
        return [k for k in self.keys[(acct, region)] if k.kind == kind]

    def alias_of(self, key: Key, pick: bool = True) -> str | None:
        """One of the key's aliases: a random one, or (``pick=False``, drawing nothing) the first by name."""
        names = [a for (ac, rg, a), k in self.aliases.items() if k is key and ac == key.account and rg == key.region]
        return (self.r.choice(names) if pick else min(names)) if names else None

    def person(self, acct: str, *kinds: str) -> Principal:
        return self.r.choice([p for p in self.principals[acct] if p.kind in kinds])

    def named(self, acct: str, name: str) -> Principal:
        return next(p for p in self.principals[acct] if p.name == name)

    # ---- identities --------------------------------------------------------------------------------

    def identity(self, p: Principal, region: str, invoked_by: str | None = None) -> dict[str, Any]:
        """The caller's full userIdentity (a role's current session; a new one is handed out now and then)."""
        acct = p.account or ""
        if p.kind == "IAMUser":
            ident = f.user(p.name, acct, p.uid, path=p.path, akid="AKIA" + p.uid[4:20])
        elif p.kind == "AssumedRole":
            if not p.session or self.r.random() < 0.03:
                self.new_session(p, region)
            ident = f.role(p.name, p.path, p.session, p.uid, acct, akid=p.akid,
                           created=f.ts(self.t - timedelta(minutes=self.r.randrange(1, 600))))
            if "AWSReservedSSO" in p.name and self.r.random() < 0.4:
                person = self.named(acct, "user")
                ident["onBehalfOf"] = {"userId": person.uid,
                                       "identityStoreArn": f"arn:aws:identitystore::{acct}:identitystore/{person.store}"}
        elif p.kind == "Root":
            ident = f.root(acct, akid="ASIA" + self.b32(16))
        elif p.kind == "FederatedUser":
            ident = f.federated_user(p.name, acct)
        elif p.kind == "IdentityCenterUser":
            ident = f.identity_center_user(p.uid, acct, p.store)
        else:
            return f.service(p.name)
        if invoked_by:
            ident["invokedBy"] = invoked_by
        return ident

    def hidden_identity(self, p: Principal) -> dict[str, Any]:
        """The caller as the key owner's copy of a cross-account call shows it (AWSAccount)."""
        acct = p.account or ""
        pid = {"IAMUser": p.uid, "AssumedRole": f"{p.uid}:{p.session}", "Root": acct,
               "FederatedUser": f"{acct}:{p.name}"}[p.kind]
        return f.hidden(pid, acct)

    def new_session(self, p: Principal, region: str) -> None:
        """A new session of role ``p``, handed out by STS (logged in the role's account)."""
        acct = p.account or ""
        p.akid = "ASIA" + self.b32(16)
        role = p.arn
        if p.name == "AppServerRole":
            p.session = f"i-0{self.hex(16)}"
            caller, event = f.service("ec2.amazonaws.com"), "AssumeRole"
        elif p.name == "DataPipelineRole":
            p.session = f"pipeline-{self.r.randrange(10000):04d}"
            caller, event = self.identity(self.named(acct, self.r.choice(("alice", "bob"))), region), "AssumeRole"
        elif "AWSReservedSSO" in p.name:
            p.session = self.r.choice(("alice", "dave", "erin")) + "@example.com"
            caller = f.saml_user(p.session, f"AWSSSO_{self.hex(16)}_DO_NOT_DELETE", acct)
            event = "AssumeRoleWithSAML"
        elif p.name == "orders-api-role":
            p.session = "orders-api"
            caller, event = f.service("lambda.amazonaws.com"), "AssumeRole"
        elif p.name == "GitHubDeployRole":
            p.session = f"GitHubActions-{self.r.randrange(10**6)}"
            caller = f.web_identity_user("repo:example/app:ref:refs/heads/main", "token.actions.githubusercontent.com")
            event = "AssumeRoleWithWebIdentity"
        else:
            p.session = self.r.choice(("nightly-export", "reader", p.name))
            caller, event = self.identity(self.named(acct, "ci-deployer"), region), "AssumeRole"
        rec = f.assume_role(caller, role, p.session, p.akid, self.t, event=event, account=acct, region=region,
                            eid=self.uuid())
        rec["requestID"] = self.uuid()
        self.emit([(acct, rec)])

    # ---- records -------------------------------------------------------------------------------------

    def base(self, source: str, name: str, ident: dict[str, Any], region: str, recipient: str,
             params: dict[str, Any] | None, invoked_by: str | None = None) -> dict[str, Any]:
        ip = invoked_by if invoked_by else (ident.get("invokedBy") or self.ip())
        agent = invoked_by or ident.get("invokedBy") or self.r.choice(AGENTS)
        rec = f.record(source, name, ident, params=params, time=self.t, eid=self.uuid(), region=region,
                       recipient=recipient, requestID=self.uuid(), sourceIPAddress=ip, userAgent=agent,
                       eventVersion=self.r.choice(("1.08", "1.09", "1.10", "1.11")))
        if not invoked_by and ident.get("type") != "AWSService":
            rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                 "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com"}
        return rec

    def emit(self, copies: list[tuple[str, dict[str, Any]]], call: Call | None = None,
             full: list[bool] | None = None) -> None:
        """Write the copies logged in the archive's accounts; note what the truth learns from them."""
        for i, (recipient, rec) in enumerate(copies):
            if recipient in self.external:
                continue
            ui = rec["userIdentity"]
            if ui.get("type") == "IAMUser":
                self.shown_uids[ui["principalId"]] = ui["arn"]
            elif ui.get("type") == "AssumedRole":
                issuer = ui["sessionContext"]["sessionIssuer"]
                self.shown_uids[issuer["principalId"]] = issuer["arn"]
            if call is not None and full is not None:
                if full[i]:
                    call.full = True
                else:
                    call.hidden = True
            pair = (recipient, rec["awsRegion"])
            pending = self.pending.get(pair)
            if pending is None:
                pending = self.pending[pair] = _File([], self.slot_of(self.t))
            pending.records.append(rec)
            if self.r.random() < self.o.redeliver:
                self.redelivered[pair].append(rec)
            if len(pending.records) >= self.o.per_file:
                self.flush(pair)
        if call is not None:
            self.calls.append(call)

    # ---- KMS calls ------------------------------------------------------------------------------------

    def kms_call(self) -> None:
        r = self.r
        region = r.choice(self.regions)
        if self.external and r.random() < 0.08:
            owner = r.choice(self.external)  # another organisation's key, used by the archive's accounts
            caller = self.person(r.choice(self.internal), "IAMUser", "AssumedRole")
        else:
            owner = r.choice(self.internal)
            caller = self.choose_caller(owner)
        roll = r.random()
        if caller.kind == "AWSService":
            self.service_call(caller, owner, region)
        elif caller.kind == "IdentityCenterUser":
            self.crypto(caller, r.choice(self.active(owner, region)), r.choice(("Decrypt", "GenerateDataKey")))
        elif roll < 0.08 and caller.account == owner:
            self.aws_managed_call(caller, owner, region)
        elif roll < 0.11:
            self.no_key_call(caller, region)
        else:
            key = r.choice(self.of_kind(owner, region, "retiring" if r.random() < 0.1 else "active"))
            roll = r.random()
            if roll < 0.42:
                self.crypto(caller, key, r.choice(ENCRYPT))
            elif roll < 0.82:
                self.crypto(caller, key, "Decrypt")
            elif roll < 0.87:
                self.reencrypt(caller, key)
            elif roll < 0.92:
                self.crypto(caller, key, r.choice(SIGN))
            else:
                cross = caller.account != owner
                self.crypto(caller, key, r.choice(ADMIN_CROSS_ACCOUNT if cross else ADMIN))

    def choose_caller(self, owner: str) -> Principal:
        r = self.r
        roll = r.random()
        if roll < 0.05:
            return Principal("AWSService", None, r.choice(SERVICES))
        if roll < 0.07:
            return self.named(owner, "user")
        if roll < 0.085:
            return self.named(owner, "root")
        if roll < 0.11:
            return self.named(owner, "carol")
        acct = owner
        if r.random() < 0.14:
            acct = r.choice([a for a in self.accounts if a != owner] or [owner])
            if r.random() < 0.1:  # an external account's root or federated user: named by their ids
                return self.named(acct, r.choice(("root", "carol")))
            if acct in self.external and r.random() < 0.5:
                return self.named(acct, "PartnerReader")
        return self.person(acct, "IAMUser", "AssumedRole")

    def key_ref(self, key: Key, cross: bool) -> tuple[str, bool]:
        """How the request names the key, and whether that is a customer alias."""
        r = self.r
        if cross:
            return key.arn, False
        alias = self.alias_of(key) if key.kind != "aws" else f"alias/aws/{key.service}"
        roll = r.random()
        if alias and roll < 0.45:
            name = alias if r.random() < 0.75 else f.alias_arn(alias, key.account, key.region)
            return name, not alias.startswith("alias/aws/")
        if roll < 0.7:
            return key.id, False
        return key.arn, False

    def context(self, p: Principal, key: Key) -> tuple[dict[str, str] | None, str | None]:
        """An encryption context, and the service that called on the caller's behalf."""
        r = self.r
        acct, region = key.account, key.region
        if p.kind == "AWSService":
            if p.name == "cloudtrail.amazonaws.com":
                return {"aws:cloudtrail:arn": f"arn:aws:cloudtrail:{region}:{acct}:trail/org-trail"}, None
            return {"aws:logs:arn": f"arn:aws:logs:{region}:{acct}:log-group:/app/orders"}, None
        roll = r.random()
        if roll < 0.35:
            bucket = r.choice(("orders-data", "analytics-raw", "backups", f"exports-{acct}"))
            return {"aws:s3:arn": f"arn:aws:s3:::{bucket}/data/{r.randrange(10000)}.parquet"}, r.choice(
                ("s3.amazonaws.com", "AWS Internal"))
        if roll < 0.5:
            return {"SecretARN": f"arn:aws:secretsmanager:{region}:{acct}:secret:prod/db-AbCdEf",
                    "SecretVersionId": self.uuid()}, "secretsmanager.amazonaws.com"
        if roll < 0.6:
            return {"aws:lambda:FunctionArn": f"arn:aws:lambda:{region}:{acct}:function:orders-api"}, None
        if roll < 0.68:
            return {"aws:ebs:id": f"vol-0{self.hex(16)}"}, "ec2.amazonaws.com"
        if roll < 0.74:
            return {"aws:dynamodb:tableName": "orders", "aws:dynamodb:subscriberId": acct}, "dynamodb.amazonaws.com"
        if roll < 0.78:
            return {"PARAMETER_ARN": f"arn:aws:ssm:{region}:{acct}:parameter/app/api-key"}, None
        if roll < 0.84:
            return {"tenant": f"t-{r.randrange(20)}"}, None
        return None, None

    def crypto(self, p: Principal, key: Key, name: str) -> None:
        """One KMS call naming one key: Encrypt/GenerateDataKey*, Decrypt, sign-class or admin calls."""
        r = self.r
        if not key.customer and (name in SIGN or (name in ADMIN and name != "DescribeKey")):
            name = "Decrypt"  # AWS managed keys take no other calls
        cls = "encrypt" if name in ENCRYPT else "decrypt" if name == "Decrypt" else "sign" if name in SIGN else "admin"
        cross = p.account is not None and p.account != key.account
        ctx, via = self.context(p, key) if cls in ("encrypt", "decrypt") else (None, None)
        if cross:
            via = None
        params: dict[str, Any] = {}
        ref, by_alias = self.key_ref(key, cross)
        if not (name == "Decrypt" and r.random() < 0.55):
            params["keyId"] = ref
        else:
            ref, by_alias = "", False
        if name in ("Encrypt", "Decrypt"):
            params["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
        elif name.startswith("GenerateDataKeyPair"):
            params["keyPairSpec"] = "RSA_2048"
        elif name.startswith("GenerateDataKey"):
            params["keySpec"] = "AES_256"
        elif name in ("Sign", "Verify"):
            params.update(signingAlgorithm="RSASSA_PSS_SHA_256", messageType="RAW")
        elif name in ("GenerateMac", "VerifyMac"):
            params["macAlgorithm"] = "HMAC_SHA_256"
        elif name == "DeriveSharedSecret":
            params["keyAgreementAlgorithm"] = "ECDH"
        elif name == "CreateGrant":
            params.update(granteePrincipal=f"arn:aws:iam::{p.account}:role/orders-api-role",
                          operations=["Decrypt", "GenerateDataKey"])
        elif name == "TagResource":
            params["tags"] = [{"tagKey": "team", "tagValue": "orders"}]
        if ctx:
            params["encryptionContext"] = ctx
        ident = self.identity(p, key.region, via)
        rec = self.base("kms.amazonaws.com", name, ident, key.region, key.account, params or None, via)
        rec["readOnly"] = name not in ("CreateGrant", "EnableKeyRotation", "TagResource")
        rec["resources"] = [f.key_resource(key.arn, typed=r.random() >= 0.1)]
        error = self.failure(key, name, by_alias)
        if error:
            rec["errorCode"], rec["errorMessage"] = error
            if error[0] == "AccessDenied":
                rec["errorMessage"] = (f"User: {ident.get('arn', 'unknown')} is not authorized to perform: kms:{name} "
                                       f"on resource: {key.arn} because no identity-based policy allows the kms:{name} "
                                       "action")
                if by_alias and r.random() < 0.6:
                    del rec["resources"]  # a denied call names the key only as the caller did
                    rec["errorMessage"] = (f"User: {ident.get('arn', 'unknown')} is not authorized to perform: "
                                           f"kms:{name} because no identity-based policy allows the kms:{name} action")
        elif ref and not cross and key.kind != "aws" and r.random() < 0.04:
            del rec["resources"]  # some records name the key only in the request
        elif cls == "decrypt" and r.random() < 0.2:
            rec["responseElements"] = {"keyId": key.arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if cls in ("encrypt", "decrypt") and r.random() < 0.3:
            rec["additionalEventData"] = {"keyMaterialId": self.hex(64)}
        if self.o.vpc_endpoints and r.random() < 0.05 and not via:
            rec["vpcEndpointId"] = f"vpce-0{self.hex(16)}"
        use = [(key.arn, "denied" if error else cls)]
        self.log_call(p, rec, use, cross, denied=error is not None)

    def failure(self, key: Key, name: str, by_alias: bool) -> tuple[str, str] | None:
        r = self.r
        if key.arn in self.deleting:
            return "KMSInvalidStateException", f"{key.arn} is pending deletion."
        if r.random() < (0.15 if by_alias else 0.025):
            return "AccessDenied", ""
        if name == "Decrypt" and r.random() < 0.01:
            return "InvalidCiphertextException", ""
        return None

    def reencrypt(self, p: Principal, key: Key) -> None:
        """ReEncrypt: decrypt on its source key, encrypt on its destination (both of the key's account)."""
        r = self.r
        if key.arn in self.deleting:
            return self.crypto(p, key, "Decrypt")
        cross = p.account != key.account
        dest = key if r.random() < 0.12 else r.choice(self.active(key.account, key.region))
        denied = r.random() < 0.05
        dest_alias = self.alias_of(dest, pick=not denied)
        # by alias 40% of the time (a denied call: chosen by the destination key's id, drawing nothing,
        # so that the random stream, and with it every archive of a seed, stays as it was)
        by_alias = dest_alias and not cross and (dest.id[-1] in "02468ace" if denied else r.random() < 0.4)
        params: dict[str, Any] = {
            "destinationKeyId": dest_alias if by_alias else dest.arn,
            "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }
        if r.random() < 0.6:
            params["sourceKeyId"] = key.arn if cross or r.random() < 0.5 else key.id
        ident = self.identity(p, key.region)
        rec = self.base("kms.amazonaws.com", "ReEncrypt", ident, key.region, key.account, params)
        rec["resources"] = [f.key_resource(key.arn)] + ([f.key_resource(dest.arn)] if dest is not key else [])
        if denied:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = f"User: {ident.get('arn')} is not authorized to perform: kms:ReEncryptFrom on resource: {key.arn}"
            uses = [(key.arn, "denied")] + ([(dest.arn, "denied")] if dest is not key else [])
        else:
            uses = [(key.arn, "decrypt"), (dest.arn, "encrypt")]
        self.log_call(p, rec, uses, cross, denied="errorCode" in rec)

    def service_call(self, p: Principal, acct: str, region: str) -> None:
        key = self.aliases.get((acct, region, "alias/audit")) or self.active(acct, region)[-1]
        name = "GenerateDataKey" if p.name == "cloudtrail.amazonaws.com" or self.r.random() < 0.5 else "Decrypt"
        self.crypto(p, key, name)

    def aws_managed_call(self, p: Principal, acct: str, region: str) -> None:
        """A call on an AWS managed key: a service on the caller's behalf (the principal is the caller)."""
        key = self.r.choice(self.of_kind(acct, region, "aws"))
        self.crypto(p, key, self.r.choice(("GenerateDataKey", "Decrypt", "Decrypt", "DescribeKey")))

    def no_key_call(self, p: Principal, region: str) -> None:
        """A KMS call that names no key: not counted."""
        name = self.r.choice(NO_KEY)
        acct = p.account or self.internal[0]
        params = {"numberOfBytes": 32} if name == "GenerateRandom" else ({"limit": 100} if self.r.random() < 0.5 else None)
        rec = self.base("kms.amazonaws.com", name, self.identity(p, region), region, acct, params)
        self.emit([(acct, rec)])

    def log_call(self, p: Principal, rec: dict[str, Any], uses: list[tuple[str, str]], cross: bool,
                 denied: bool) -> None:
        """The call's records: one, or for another account's key the caller's copy and the key owner's
        copy with the caller hidden (one sharedEventID; a denied call reaches the caller's account only)."""
        call = Call(p, uses)
        owner = rec["recipientAccountId"]
        if not cross:
            return self.emit([(owner, rec)], call, [True])
        shared = self.uuid()
        mine = json.loads(json.dumps(rec))
        mine["recipientAccountId"] = p.account
        mine["sharedEventID"] = shared
        if denied:
            return self.emit([(p.account or "", mine)], call, [True])
        rec["eventID"] = self.uuid()
        rec["sharedEventID"] = shared
        rec["userIdentity"] = self.hidden_identity(p)
        rec.pop("tlsDetails", None)
        self.emit([(p.account or "", mine), (owner, rec)], call, [True, False])

    # ---- management: keys, aliases, deletion -------------------------------------------------------

    def management(self, acct: str, region: str, name: str, params: dict[str, Any], keys: list[str],
                   resources: list[dict[str, Any]], response: dict[str, Any] | None = None) -> None:
        deployer = self.named(acct, "ci-deployer")
        rec = self.base("kms.amazonaws.com", name, self.identity(deployer, region), region, acct, params)
        rec["readOnly"] = False
        rec["resources"] = resources
        if response:
            rec["responseElements"] = response
        self.emit([(acct, rec)], Call(deployer, [(k, "admin") for k in keys]), [True])

    def create_key(self, key: Key) -> None:
        self.management(key.account, key.region, "CreateKey",
                        {"description": key.description, "keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT",
                         "origin": "AWS_KMS", "bypassPolicyLockoutSafetyCheck": False, "multiRegion": False},
                        [key.arn], [f.key_resource(key.arn)],
                        {"keyMetadata": {"aWSAccountId": key.account, "keyId": key.id, "arn": key.arn,
                                         "keyManager": "CUSTOMER", "keyState": "Enabled", "enabled": True}})

    def alias_change(self, acct: str, region: str, name: str, alias: str, target: Key | None) -> None:
        old = self.aliases.get((acct, region, alias))
        keys = [k.arn for k in (old, target) if k is not None and (k is not old or name != "CreateAlias")]
        keys = list(dict.fromkeys(keys))
        params: dict[str, Any] = {"aliasName": alias}
        if target is not None:
            params["targetKeyId"] = target.id if name == "CreateAlias" or self.r.random() < 0.5 else target.arn
        resources = [f.key_resource(f.alias_arn(alias, acct, region))] + [f.key_resource(k) for k in keys]
        self.management(acct, region, name, params, keys, resources)
        if target is None:
            self.aliases.pop((acct, region, alias), None)
        else:
            self.aliases[(acct, region, alias)] = target
        self.alias_changed[(acct, region, alias)] = self.t

    def churn(self, step: int) -> None:
        """Alias changes, at whole seconds: a call in the same second comes after them."""
        self.t = self.t.replace(microsecond=0) + timedelta(seconds=1)
        for acct in self.accounts:
            for region in self.regions:
                audit = self.aliases[(acct, region, "alias/audit")]
                choices = [k for k in self.active(acct, region) if k is not audit]
                if step == 3:
                    self.alias_change(acct, region, "DeleteAlias", RECREATED, None)
                    self.t += timedelta(seconds=1)
                    self.alias_change(acct, region, "CreateAlias", RECREATED, self.r.choice(choices))
                    self.t -= timedelta(seconds=1)
                else:
                    alias = self.r.choice(CHURNED)
                    current = self.aliases[(acct, region, alias)]
                    self.alias_change(acct, region, "UpdateAlias", alias,
                                      self.r.choice([k for k in choices if k is not current]))
        self.t += timedelta(seconds=2)

    def schedule_deletions(self) -> None:
        for acct in self.accounts:
            for region in self.regions:
                (key,) = self.of_kind(acct, region, "retiring")
                self.management(acct, region, "ScheduleKeyDeletion", {"keyId": key.id, "pendingWindowInDays": 30},
                                [key.arn], [f.key_resource(key.arn)],
                                {"keyId": key.arn, "deletionDate": "Dec 31, 2026, 12:00:00 AM",
                                 "keyState": "PendingDeletion", "pendingWindowInDays": 30})
                self.deleting.append(key.arn)

    # ---- other services ----------------------------------------------------------------------------------

    def other_call(self) -> None:
        r = self.r
        acct, region = r.choice(self.internal), r.choice(self.regions)
        source, name = r.choice(OTHER_CALLS)
        if self.o.partner_reads and self.external and source == "s3.amazonaws.com" and r.random() < 0.15:
            # a partner's role reads a bucket of the archive's account: its identity shows in the archive
            caller = self.named(r.choice(self.external), "PartnerReader")
        else:
            caller = self.person(acct, "IAMUser", "AssumedRole")
        rec = self.base(source, name, self.identity(caller, region), region, acct, None)
        if source == "s3.amazonaws.com":
            rec.update(eventCategory="Data", managementEvent=False, readOnly=name == "GetObject",
                       requestParameters={"bucketName": "analytics-raw", "Host": "analytics-raw.s3.amazonaws.com",
                                          "key": f"data/{r.randrange(10000)}.parquet"},
                       resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::analytics-raw/data/x.parquet"},
                                  {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::analytics-raw"}])
        elif name == "GetSecretValue":
            rec["requestParameters"] = {"secretId": f"arn:aws:secretsmanager:{region}:{acct}:secret:prod/db-AbCdEf"}
        self.emit([(acct, rec)])

    # ---- files ---------------------------------------------------------------------------------------------

    def slot_of(self, t: datetime) -> datetime:
        return t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)

    def flush(self, pair: tuple[str, str]) -> None:
        pending = self.pending.pop(pair, None)
        if pending is None or not pending.records:
            return
        self.write_log(pair, pending.records, pending.slot + timedelta(minutes=5))

    def flush_all(self) -> None:
        for pair in sorted(self.pending):
            self.flush(pair)

    def write_log(self, pair: tuple[str, str], records: list[dict[str, Any]], delivered: datetime) -> None:
        acct, region = pair
        plain = bool(self.o.plain_every) and self.files % self.o.plain_every == 0
        key = f.log_key(acct, region, delivered, self.b32(16), org=ORG if self.o.org else None, gz=not plain)
        f.write(self.out / key, json.dumps({"Records": records}, separators=(",", ":")).encode(), gz=not plain)
        self.files += 1
        self.records_written += len(records)
        hour = delivered.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if (acct, region, hour) not in self.digested:
            self.digested.add((acct, region, hour))
            dkey = f.digest_key(acct, region, hour, org=ORG if self.o.org else None)
            f.write(self.out / dkey, json.dumps({
                "awsAccountId": acct, "digestStartTime": f.ts(hour - timedelta(hours=1)), "digestEndTime": f.ts(hour),
                "digestS3Bucket": "org-trail-bucket", "digestS3Object": dkey, "logFiles": [],
                "placeholder": "written by tests/factory/archive.py: not signed, lists no log file",
            }).encode(), gz=True)

    # ---- the run --------------------------------------------------------------------------------------------

    def run(self, out: Path) -> dict[str, Any]:
        self.out = out
        o, r = self.o, self.r
        span = (o.days * 86400 if o.days else 300 * o.events / (o.per_file * len(self.internal) * len(self.regions)))
        step = span / max(1, o.events)
        # the window opens: aliases named, a key created, CloudTrail encrypting its log files
        for acct in self.internal:
            for region in self.regions:
                for name, key in zip(ALIASES, self.active(acct, region), strict=False):
                    self.management(acct, region, "CreateAlias", {"aliasName": name, "targetKeyId": key.id}, [key.arn],
                                    [f.key_resource(f.alias_arn(name, acct, region)), f.key_resource(key.arn)])
                for key in self.of_kind(acct, region, "dormant"):
                    self.create_key(key)
                self.service_call(Principal("AWSService", None, "cloudtrail.amazonaws.com"), acct, region)
        milestones = {o.events * k // 5: k for k in (1, 2, 3, 4)}
        deletion = o.events * 7 // 10
        slot = self.slot_of(self.t)
        for i in range(o.events):
            self.t += timedelta(seconds=step * r.uniform(0.5, 1.5))
            if self.slot_of(self.t) != slot:
                self.flush_all()
                slot = self.slot_of(self.t)
            if i in milestones and i:
                self.churn(milestones[i])
            if i == deletion:
                self.schedule_deletions()
            if r.random() < 0.55:
                self.kms_call()
            else:
                self.other_call()
        self.flush_all()
        end = self.slot_of(self.t) + timedelta(hours=1)
        redelivered = 0
        for pair, records in sorted(self.redelivered.items()):
            if records:  # delivered a second time, later, in files of their own
                self.write_log(pair, records, end)
                redelivered += len(records)
        inventory(self, out / "inventory")
        truth = self.truth(redelivered)
        (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
        return truth

    def principal_of(self, call: Call) -> str:
        p = call.caller
        if call.full or p.kind not in ("IAMUser", "AssumedRole"):
            return p.arn
        return self.shown_uids.get(p.uid) or f"AWSAccount:{p.account}:{p.uid}"

    def truth(self, redelivered: int) -> dict[str, Any]:
        keys: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        counted = 0
        for call in self.calls:
            if not (call.full or call.hidden):
                continue
            counted += 1
            principal = self.principal_of(call)
            for key, cls in dict.fromkeys(call.uses):  # once per call per key and class
                keys[key][principal][cls] += 1
        cmk = sorted(k.arn for a in self.internal for rg in self.regions for k in self.keys[(a, rg)] if k.customer)

        def crypto_used(arn: str) -> bool:
            return any(ops.get(c) for ops in keys.get(arn, {}).values() for c in CRYPTO)

        return {
            "rules": "README.md, How calls are counted (tests/factory/archive.py)",
            "generator": "tests/factory/archive.py",
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.o).items()},
            "seed": self.o.seed,
            "events": self.o.events,
            "calls": counted,
            "records_written": self.records_written,
            "files": self.files,
            "redelivered_records": redelivered,
            "accounts": self.internal,
            "external_accounts": sorted(self.external),
            "regions": list(self.regions),
            "keys": {k: {p: dict(sorted(ops.items())) for p, ops in sorted(ps.items())} for k, ps in sorted(keys.items())},
            "customer_managed_keys": cmk,
            "customer_managed_keys_without_crypto_use": [k for k in cmk if not crypto_used(k)],
            "customer_managed_keys_seen_without_crypto_use": [k for k in cmk if k in keys and not crypto_used(k)],
            "keys_pending_deletion": sorted(k for k in self.deleting if k.split(":")[4] in self.internal),
            "aws_managed_keys": sorted(k.arn for a in self.internal for rg in self.regions for k in self.keys[(a, rg)]
                                       if not k.customer),
        }


def inventory(g: _Generator, root: Path) -> None:
    """The key inventory of the archive's accounts at the end of the window (AWS CLI output shapes)."""
    keys = []
    for acct in g.internal:
        users = [p.arn for p in g.principals[acct] if p.kind in ("IAMUser", "AssumedRole")]
        for region in g.regions:
            for k in g.keys[(acct, region)]:
                aliases = tuple(a for (ac, rg, a), t in g.aliases.items() if t is k and ac == acct and rg == region)
                updated = max((g.alias_changed[(acct, region, a)] for a in aliases), default=START)
                if k.customer:
                    named = [u for u in users if g.r.random() < 0.35]
                    policy = f.default_policy(acct, named or None)
                else:
                    svc = k.service
                    aliases = (f"alias/aws/{svc}",)
                    via = "s3" if svc == "s3" else "ec2"
                    policy = {"Version": "2012-10-17", "Id": f"auto-{svc}-2", "Statement": [
                        {"Sid": f"Allow access through {svc.upper()} for all principals in the account that are authorized",
                         "Effect": "Allow", "Principal": {"AWS": "*"},
                         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                    "kms:DescribeKey"], "Resource": "*",
                         "Condition": {"StringEquals": {"kms:CallerAccount": acct,
                                                        "kms:ViaService": f"{via}.{region}.amazonaws.com"}}},
                        {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
                         "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                         "Action": ["kms:Describe*", "kms:Get*", "kms:List*"], "Resource": "*"}]}
                keys.append(f.InvKey(k.arn, manager="CUSTOMER" if k.customer else "AWS",
                                     state="PendingDeletion" if k.arn in g.deleting else "Enabled", policy=policy,
                                     aliases=aliases, alias_updated=updated.isoformat(), description=k.description))
    f.write_inventory(root, keys)


def write_archive(out: Path, **options: Any) -> dict[str, Any]:
    """Write an archive with ``Options(**options)`` under ``out``; returns its truth (also ``out/truth.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    return _Generator(Options(**options)).run(out)


def load_truth(archive: Path) -> dict[str, Any]:
    return json.loads((archive / "truth.json").read_text())  # type: ignore[no-any-return]


def log_files(archive: Path) -> list[Path]:
    """The archive's log files (not digests, inventory or truth), sorted."""
    return sorted(p for p in (archive / "AWSLogs").rglob("*.json*")
                  if p.is_file() and "CloudTrail" in p.parts and "CloudTrail-Digest" not in p.parts)


def records(archive: Path) -> Iterator[dict[str, Any]]:
    """Every record of the archive's log files, file by file (re-delivered copies too)."""
    for path in log_files(archive):
        data = path.read_bytes()
        yield from json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)["Records"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.factory.archive", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--events", type=int, default=Options.events)
    ap.add_argument("--seed", type=int, default=Options.seed)
    ap.add_argument("--accounts", type=int, default=Options.accounts)
    ap.add_argument("--regions", type=int, default=2)
    ap.add_argument("--org", action="store_true")
    ap.add_argument("--external", type=int, default=0)
    ap.add_argument("--plain-every", type=int, default=0)
    ap.add_argument("--per-file", type=int, default=Options.per_file)
    ap.add_argument("--days", type=float, default=None)
    a = ap.parse_args(argv)
    t = write_archive(a.out, events=a.events, seed=a.seed, accounts=a.accounts, regions=a.regions, org=a.org,
                      external=a.external, plain_every=a.plain_every, per_file=a.per_file, days=a.days)
    print(f"wrote {t['records_written']} records ({t['calls']} KMS calls counted) in {t['files']} log files to {a.out}")


if __name__ == "__main__":
    main()


__all__ = ["NO_KEY", "ORG", "REGIONS", "START", "Options", "load_truth", "log_files", "records", "write_archive"]
