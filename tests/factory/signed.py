"""Signed CloudTrail archives for tests: log files plus digest files signed and chained the way
CloudTrail signs and chains them, with a key pair of your own standing in for CloudTrail's.

    signer = TrailSigner.generate()
    built = build_archive(tmp_path / "archive", signer, hours=3)
    keys = parse_public_keys(public_keys_json([signer]))
    assert verify_archive([str(built.root)], keys).ok
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keytrail.verify.archive import SIGNATURE_SUFFIX
from tests.factory import key_arn, kms, without, write
from tests.factory import ts as iso
from tests.factory import user as iam_user

START = datetime(2026, 1, 5, 10, 0, 31, tzinfo=UTC)


@dataclass(frozen=True)
class TrailSigner:
    """An RSA key pair that signs digests as CloudTrail's regional key does."""

    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, bits: int = 2048) -> TrailSigner:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @property
    def public_der(self) -> bytes:
        """The public key as ``list-public-keys`` publishes it: DER, PKCS #1."""
        return self.private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(self.public_der, usedforsecurity=False).hexdigest()  # CloudTrail's: MD5 of the DER

    def sign(self, data: bytes) -> str:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256()).hex()


def public_keys_json(signers: Sequence[TrailSigner], valid_from: datetime = START - timedelta(days=30),
                     valid_to: datetime = START + timedelta(days=30)) -> bytes:
    """``aws cloudtrail list-public-keys`` output for these signers (times as epoch seconds)."""
    return orjson.dumps({"PublicKeyList": [
        {
            "Value": base64.b64encode(s.public_der).decode(),
            "ValidityStartTime": f"{valid_from.timestamp():.1f}",
            "ValidityEndTime": f"{valid_to.timestamp():.1f}",
            "Fingerprint": s.fingerprint,
        }
        for s in signers
    ]}, option=orjson.OPT_INDENT_2)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class BuiltArchive:
    """What ``build_archive`` wrote: paths oldest first, and each digest's own signature."""

    root: Path
    bucket: str
    digests: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    signatures: dict[Path, str] = field(default_factory=dict)  # x-amz-meta-signature of each digest


def log_record(account: str, region: str, when: datetime, n: int, user: str = "app") -> dict[str, object]:
    """A small KMS Decrypt record (event id and request id from ``n``), called by IAM user ``user``."""
    principal = "AIDAEXAMPLE0000000001" if user == "app" else "AIDA" + hashlib.sha256(user.encode()).hexdigest()[:17].upper()
    return kms("Decrypt", without(iam_user(user, account, principal), "accessKeyId"),
               key_arn("1234abcd-12ab-34cd-56ef-1234567890ab", account, region),
               {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, time=iso(when), eid=f"00000000-0000-4000-8000-{n:012d}",
               region=region, recipient=account, eventVersion="1.08", sourceIPAddress="192.0.2.10",
               requestID=f"req-{n:08d}")


def build_archive(  # long: a signed test archive, its digest chain built day by day
    root: Path,
    signer: TrailSigner,
    *,
    hours: int = 3,
    logs_per_hour: int = 2,
    account: str = "111122223333",
    region: str = "us-east-1",
    trail: str = "management-trail",
    bucket: str = "example-trail-bucket",
    org: str | None = None,
    prefix: str = "",
    start: datetime = START,
    fingerprint: str | None = None,
    write_signatures: bool = False,
) -> BuiltArchive:
    """An archive under ``root`` laid out as in S3 (``root`` stands for the bucket): ``hours``
    hourly digests, the first a starting digest, each listing ``logs_per_hour`` log files.

    ``fingerprint`` overrides the fingerprint the digests name (a forger's key claiming to be
    CloudTrail's); ``write_signatures`` writes each digest's own signature beside it
    (``DIGEST.signature``), as S3 metadata would hold it.
    """
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    base += f"AWSLogs/{org + '/' if org else ''}{account}"
    built = BuiltArchive(root, bucket)
    previous: tuple[str, str, str] | None = None  # (key, sha256, signature)
    n = 0
    for h in range(hours):
        t0 = start + timedelta(hours=h)
        t1 = t0 + timedelta(hours=1)
        log_entries = []
        for j in range(logs_per_hour):
            when = t0 + timedelta(minutes=10 * (j + 1))
            unique = hashlib.sha256(f"{account}{region}{when}{j}".encode()).hexdigest()[:16]
            key = (f"{base}/CloudTrail/{region}/{when:%Y/%m/%d}/"
                   f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%M}Z_{unique}.json.gz")
            records = [log_record(account, region, when + timedelta(seconds=i), n + i) for i in range(3)]
            n += 3
            content = orjson.dumps({"Records": records})  # compact, as CloudTrail delivers it
            built.logs.append(write(root / key, content, gz=True))
            log_entries.append({
                "s3Bucket": bucket, "s3Object": key, "hashValue": hashlib.sha256(content).hexdigest(),
                "hashAlgorithm": "SHA-256", "newestEventTime": iso(when + timedelta(seconds=2)),
                "oldestEventTime": iso(when),
            })
        key = (f"{base}/CloudTrail-Digest/{region}/{t1:%Y/%m/%d}/"
               f"{account}_CloudTrail-Digest_{region}_{trail}_{region}_{t1:%Y%m%dT%H%M%SZ}.json.gz")
        digest = {
            "awsAccountId": account,
            "digestStartTime": iso(t0),
            "digestEndTime": iso(t1),
            "digestS3Bucket": bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": fingerprint or signer.fingerprint,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": iso(t1 - timedelta(minutes=1)) if log_entries else None,
            "oldestEventTime": iso(t0 + timedelta(minutes=10)) if log_entries else None,
            "previousDigestS3Bucket": bucket if previous else None,
            "previousDigestS3Object": previous[0] if previous else None,
            "previousDigestHashValue": previous[1] if previous else None,
            "previousDigestHashAlgorithm": "SHA-256" if previous else None,
            "previousDigestSignature": previous[2] if previous else None,
            "logFiles": log_entries,
        }
        content = orjson.dumps(digest)
        sha = hashlib.sha256(content).hexdigest()
        signing = f"{iso(t1)}\n{bucket}/{key}\n{sha}\n{previous[2] if previous else 'null'}".encode()
        signature = signer.sign(signing)
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_gz(content))
        if write_signatures:
            Path(str(path) + SIGNATURE_SUFFIX).write_text(signature + "\n")
        built.digests.append(path)
        built.signatures[path] = signature
        previous = (key, sha, signature)
    return built


def write_digest(
    root: Path,
    key: str,
    logs: Sequence[Path],
    *,
    start: datetime,
    end: datetime,
    fingerprint: str,
    bucket: str = "example-trail-bucket",
    signer: TrailSigner | None = None,
) -> Path:
    """A starting digest at ``root/key`` listing ``logs`` (files below ``root``), as a forger writes
    one: signed by ``signer`` (the signature in a ``.signature`` file beside it) or not at all."""
    entries = []
    for log in logs:
        data = log.read_bytes()
        content = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        entries.append({"s3Bucket": bucket, "s3Object": log.relative_to(root).as_posix(),
                        "hashValue": hashlib.sha256(content).hexdigest(), "hashAlgorithm": "SHA-256"})
    content = orjson.dumps({
        "awsAccountId": key.split("/")[1], "digestStartTime": iso(start), "digestEndTime": iso(end),
        "digestS3Bucket": bucket, "digestS3Object": key, "digestPublicKeyFingerprint": fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA", "previousDigestS3Bucket": None, "previousDigestS3Object": None,
        "previousDigestHashValue": None, "previousDigestHashAlgorithm": None, "previousDigestSignature": None,
        "logFiles": entries,
    })
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gz(content))
    if signer is not None:
        sha = hashlib.sha256(content).hexdigest()
        signature = signer.sign(f"{iso(end)}\n{bucket}/{key}\n{sha}\nnull".encode())
        Path(str(path) + SIGNATURE_SUFFIX).write_text(signature + "\n")
    return path
