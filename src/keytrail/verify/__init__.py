"""Evidence integrity: verify CloudTrail digest files (log file validation) offline.

    from keytrail.verify import load_public_keys, verify_archive

    report = verify_archive(["archive/"], load_public_keys("public-keys.json"))
    print(report.summary())          # "OK: 24 digest files and 288 log files verified ..."
    if not report.ok:
        for finding in report.of_level("failed"):
            print(finding.uri, finding.message)

Only what a verified digest chain vouches for should be read: ``Gate`` wraps file sources so
that the pipeline sees only verified log files (``--verify`` on ingest and the reports).

    gate = Gate(report, "exclude")                 # or "fail": gate.blocked when anything is not verified
    ingest(gate.wrap(open_sources(paths)), store)  # FileRef.verified is set on what passes

Modules: ``digest`` (the digest format and signing string), ``keys`` (``list-public-keys``
output, signature checks), ``archive`` (local and ``s3://`` archives, content hashes),
``check`` (the verification), ``pending`` (when a log file no digest lists yet may be new),
``results`` (the report), ``gate`` (verified files only, to the pipeline). Errors (``keytrail.errors``): ``PublicKeysError`` (a ``SourceError``) for an
unusable public keys file; ``UsageError`` for a source that cannot be verified;
``VerificationFailed`` (a ``KeytrailError``) when the command line's ``--verify`` refuses to read. Problems inside the archive are findings,
never raised.
"""

from keytrail.errors import PublicKeysError, VerificationFailed
from keytrail.verify.archive import SIGNATURE_SUFFIX
from keytrail.verify.check import verify_archive, verify_archives
from keytrail.verify.gate import MODES, Gate, LeftOut, VerifiedSource
from keytrail.verify.keys import PublicKey, load_public_keys, parse_public_keys
from keytrail.verify.results import FileResult, Finding, VerificationReport

__all__ = [
    "MODES",
    "SIGNATURE_SUFFIX",
    "FileResult",
    "Finding",
    "Gate",
    "LeftOut",
    "PublicKey",
    "PublicKeysError",
    "VerificationFailed",
    "VerificationReport",
    "VerifiedSource",
    "load_public_keys",
    "parse_public_keys",
    "verify_archive",
    "verify_archives",
]
