"""Malformed input: every case of the corpus (tests/hostile/corpus.py) alone and all of them mixed
into an archive with known answers (tests/factory/archive.py). Nothing crashes; each bad file or record is
named (file and record index); only the bad record is skipped; the archive around them is counted
exactly (its truth); the summary says what was skipped; exit 3, and --strict fails before any output. A case alone that
holds no CloudTrail log file is said so, with no report (exit 2)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.decode import read_records
from keytrail.normalize import normalize
from keytrail.pipeline import process_file
from keytrail.render.words import count
from keytrail.sources.local import LocalSource
from tests.factory.archive import write_archive
from tests.factory.truth import assert_matches_truth
from tests.hostile import corpus
from tests.hostile.corpus import NOT_CLOUDTRAIL, READ, UNREADABLE, Case

DONORS = 120


class Corpus:
    def __init__(self, root: Path, archive: Path, cases: list[Case]) -> None:
        self.root = root
        self.archive = archive
        self.cases = cases

    def path(self, case: Case) -> str:
        return str(self.root / case.path)

    def case(self, path: str) -> Case:
        """The written case (its donor count is known once the archive's donors were taken)."""
        (case,) = [c for c in self.cases if c.path == path]
        return case


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """An archive with known answers, DONORS of its KMS calls moved into the malformed corpus beside it."""
    base = tmp_path_factory.mktemp("hostile")
    archive = base / "trail"
    write_archive(archive, events=4000, seed=21, per_file=120, plain_every=5)
    donors = corpus.take_donors(archive, DONORS)
    root = base / "corpus"
    return Corpus(root, archive, corpus.write_corpus(root, donors))


def _cases() -> list[Case]:
    """The cases, for parametrisation (written to a scratch directory only to be listed)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        fake = [{"eventSource": "kms.amazonaws.com", "eventID": str(i)} for i in range(1000)]
        return corpus.write_corpus(Path(d) / "c", fake)


CASES = _cases()
FILE_CASES = [c for c in CASES if c.walked]


def test_the_corpus_has_every_kind_of_case() -> None:
    kinds = {c.outcome for c in CASES}
    assert kinds == {UNREADABLE, NOT_CLOUDTRAIL, READ}
    rejected = sum(len(c.rejected) for c in CASES)
    # the figures quoted in the README's Reliability section: update them with the corpus
    assert (len(CASES), rejected) == (52, 73)


# ---- each case alone, through the library ---------------------------------------------------------


@pytest.mark.parametrize("name", [c.path for c in FILE_CASES])
def test_each_file_alone(mixed: Corpus, name: str) -> None:
    case = mixed.case(name)
    path = mixed.path(case)
    refs = list(LocalSource((path,)).files())
    if case.outcome == UNREADABLE and case.reason and refs[0].error is not None:
        # found unreadable while listing (FIFO, loops, dangling links): never opened
        assert [(r.uri, r.error) for r in refs] == [(path, refs[0].error)]
        assert case.reason in (refs[0].error or "")
        return
    if os.path.isdir(path):
        refs = refs[:1]
    (ref,) = refs
    outcome, _ = process_file(LocalSource((path,)), 1, ref)
    if case.outcome == UNREADABLE:
        assert (outcome.status, outcome.records, outcome.rows) == ("error", 0, 0)
        assert case.reason in (outcome.reason or ""), outcome.reason
    elif case.outcome == NOT_CLOUDTRAIL:
        assert (outcome.status, outcome.records, outcome.rows) == ("skipped", 0, 0)
        assert case.reason in (outcome.reason or ""), outcome.reason
    else:
        assert outcome.status == "ingested", outcome.reason
        assert outcome.records == case.records
        assert [p.rec_index for p in outcome.problems] == sorted(case.rejected)
        for i, message, *_ in outcome.problems:
            assert case.rejected[i] in message, (i, message)
        # every good record is a KMS call, counted; nothing else is
        assert outcome.kms_records == case.donors


# ---- each case alone, through the CLI ---------------------------------------------------------------


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _expected_lines(path: str, case: Case) -> list[str]:
    if case.outcome == UNREADABLE:
        return [f"keytrail: error: {path}: "]
    return [f"keytrail: skipped record: {path}: record {i}: " for i in sorted(case.rejected)]


@pytest.mark.parametrize("name", [c.path for c in CASES])
def test_each_case_through_the_cli(mixed: Corpus, name: str) -> None:
    case = mixed.case(name)
    path = mixed.path(case)
    result = _run(["usage", path, "--format", "json", "--workers", "1"])
    lines = result.stderr.splitlines()
    for start in _expected_lines(path, case):
        assert any(line.startswith(start) for line in lines), (start, lines)
    if case.outcome != READ:
        # the only SOURCE holds no CloudTrail log file: said, and no report (never "no calls")
        assert (result.exit_code, result.stdout) == (2, ""), result.output
        assert lines[-1].startswith(f"keytrail: error: {path}: no CloudTrail log file: "), lines
        assert case.outcome == UNREADABLE or case.reason in lines[-1]
        strict = _run(["usage", path, "--format", "json", "--workers", "1", "--strict"])
        assert (strict.exit_code, strict.stdout, strict.stderr) == (2, "", result.stderr)
        return
    partial = bool(case.rejected)
    assert result.exit_code == (3 if partial else 0), result.output
    for i, message in case.rejected.items():
        assert any(message in line for line in lines if line.startswith(f"keytrail: skipped record: {path}: record {i}: "))
    summary = lines[-1]
    assert summary.startswith("keytrail: ") and re.search(r"records? in [\d,]+ files?", summary)
    if case.outcome == UNREADABLE:
        assert "1 file unreadable" in summary
    if case.rejected:
        assert f"{count(len(case.rejected), 'record')} rejected" in summary
    if case.outcome == NOT_CLOUDTRAIL:
        assert "1 file skipped (1 " in summary and case.reason in summary
    rows = json.loads(result.stdout)
    assert all(r["key"] != corpus.DECOY_KEY for r in rows)
    assert sum(r["encrypt"] + r["decrypt"] + r["sign"] + r["admin"] + r["denied"] for r in rows) <= case.donors

    if partial:  # --strict: a failure before any output
        strict = _run(["usage", path, "--format", "json", "--workers", "1", "--strict"])
        assert strict.exit_code == 3 and strict.stdout == ""
        assert strict.stderr.splitlines()[-1].startswith("keytrail: error: --strict: ")


# ---- every case at once, mixed into an archive: the truth still holds ------------------------------


def _keytrail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keytrail", *args], capture_output=True, text=True, timeout=300)


def test_the_archive_mixed_with_the_corpus_is_counted_exactly(mixed: Corpus, tmp_path: Path) -> None:
    explicit = [mixed.path(c) for c in CASES if c.explicit]
    args = ["usage", str(mixed.archive / "AWSLogs"), str(mixed.root), *explicit, "--format", "json"]
    run = _keytrail(*args, "--workers", "2")
    assert run.returncode == 3, run.stderr[-2000:]
    assert_matches_truth(run.stdout, mixed.archive / "truth.json")  # every row, and no extra row

    # every bad file and record named, with its index; nothing else named
    lines = run.stderr.splitlines()
    errors = sorted(line for line in lines if line.startswith("keytrail: error: "))
    skipped = sorted(line for line in lines if line.startswith("keytrail: skipped record: "))
    unreadable = [c for c in CASES if c.outcome == UNREADABLE]
    assert len(errors) == len(unreadable)
    for c in unreadable:
        assert any(line.startswith(f"keytrail: error: {mixed.path(c)}: ") and c.reason in line for line in errors), c
    want = sorted((mixed.path(c), i) for c in CASES for i in c.rejected)
    got = sorted((line.split(": ")[2], int(line.split(": ")[3].removeprefix("record "))) for line in skipped)
    assert got == want

    # the summary says what was skipped
    summary = lines[-1]
    n_rejected = sum(len(c.rejected) for c in CASES)
    n_other = sum(1 for c in CASES if c.outcome == NOT_CLOUDTRAIL)
    assert f"{count(len(unreadable), 'file')} unreadable" in summary, summary
    assert f"{count(n_rejected, 'record')} rejected" in summary, summary
    assert "skipped (" in summary and "valid JSON, not CloudTrail" in summary
    assert n_other <= int(summary.split(" files skipped (")[0].rsplit("; ", 1)[1].replace(",", ""))

    strict = _keytrail(*args, "--workers", "1", "--strict")
    assert (strict.returncode, strict.stdout) == (3, "")
    assert f"--strict: {len(unreadable) + n_rejected} input problem(s)" in strict.stderr


def test_ingest_of_the_mixed_archive_then_a_second_ingest_reads_nothing_new(mixed: Corpus, tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    first = _run(["ingest", str(mixed.archive / "AWSLogs"), str(mixed.root), "--db", db, "--workers", "1"])
    assert first.exit_code == 3
    usage = _run(["usage", "--db", db, "--format", "json"]).stdout
    again = _run(["ingest", str(mixed.archive / "AWSLogs"), str(mixed.root), "--db", db, "--workers", "1"])
    # unreadable files are tried again (they may have been fixed); nothing is counted twice
    assert again.exit_code == 3
    assert "unchanged since the last ingest" in again.stderr.splitlines()[-1]
    assert _run(["usage", "--db", db, "--format", "json"]).stdout == usage


# ---- duplicate keys: the last one wins, alike in every decoder and every shape --------------------


DUPLICATES = [
    b'{"a": 1, "a": 2}',
    b'{"eventSource": "kms.amazonaws.com", "eventSource": "s3.amazonaws.com"}',
    b'{"userIdentity": {"type": "Root"}, "userIdentity": "junk"}',
    b'{"x": {"k": 1, "k": {"k": [1, 2]}}, "x": {"k": 3, "k": 4}}',
]


@pytest.mark.parametrize("doc", DUPLICATES)
def test_every_json_decoder_keytrail_uses_keeps_the_last_duplicate(doc: bytes) -> None:
    assert json.loads(doc) == orjson.loads(doc) == msgspec.json.decode(doc)


def _shapes(records: list[bytes]) -> dict[str, bytes]:
    log = b'{"Records":[' + b",".join(records) + b"]}"
    return {
        "log file (fast path)": log,
        "gzipped log file": gzip.compress(log),
        "log file, tolerant path": b'{"Records":[' + b",".join(records) + b',{"eventSource":"s3.amazonaws.com",'
                                   b'"eventName":"X","eventTime":"2026-10-01T00:00:00Z","n":NaN}]}',
        "bare array": b"[" + b",".join(records) + b"]",
        "NDJSON": b"\n".join(records) + b"\n",
        "lookup-events": json.dumps({"Events": [{"CloudTrailEvent": r.decode()} for r in records]}).encode(),
        "EventBridge": b"[" + b",".join(b'{"detail-type":"AWS API Call via CloudTrail","detail":' + r + b"}"
                                         for r in records) + b"]",
    }


def test_duplicate_keys_mean_the_same_in_every_code_path() -> None:
    base = corpus.decoy(1)
    records = [
        corpus._junk_first(corpus.decoy(2)),  # junk first, good values last: counted
        json.dumps(base)[:-1].encode() + b',"eventSource":"s3.amazonaws.com"}',  # KMS first, s3 last: not KMS
        json.dumps(corpus.decoy(3))[:-1].encode() + b',"userIdentity":"junk"}',  # rejected
        json.dumps(corpus.decoy(4))[:-1].encode() + b',"requestParameters":{"keyId":"alias/last"},'
                                                    b'"resources":[]}',  # keyId from the last object
    ]
    answers = {}
    for shape, data in _shapes(records).items():
        fr = read_records(data, shape)
        answers[shape] = sorted(
            (str(normalize(rec).problem), [(r.key_ref, r.event_id) for r in normalize(rec).rows])
            for _, rec in fr.candidates
            if isinstance(rec, dict) and rec.get("eventSource") == "kms.amazonaws.com"
        )
    first = next(iter(answers.values()))
    assert first == sorted([
        ("None", [(corpus.DECOY_KEY, "dec0dec0-0000-4000-8000-000000000002")]),
        ("None", [("arn:aws:kms:us-east-1:999999999999:alias/last", "dec0dec0-0000-4000-8000-000000000004")]),
        ("userIdentity is not an object", []),
    ])
    assert all(a == first for a in answers.values()), answers


# ---- one 100 MB single-line file: peak memory ------------------------------------------------------


def _big_log(path: Path, variant: str, size: int = 100 << 20) -> int:
    """A CloudTrail log file of ``size`` bytes on one line: half KMS calls (decoys), half other calls."""
    records = []
    total = 0
    i = 0
    while total < size:
        r = corpus.decoy(i, eventSource="s3.amazonaws.com") if i % 2 else corpus.decoy(i)
        b = json.dumps(r, separators=(",", ":")).encode()
        records.append(b)
        total += len(b) + 1
        i += 1
    if variant == "one NaN":
        records[len(records) // 2] = records[len(records) // 2].replace(b'"readOnly":true', b'"readOnly":NaN')
    if variant == "one 100 MB string":
        records = [json.dumps(corpus.decoy(0, userAgent="A" * size), separators=(",", ":")).encode()]
    with open(path, "wb") as f:
        f.write(b'{"Records":[')
        f.write(b",".join(records))
        f.write(b"]}")
    return len(records)


_RSS = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _peak_rss_mb(*args: str) -> tuple[int, float]:
    """Exit code and peak resident memory (MB) of ``keytrail ARGS`` and every process it waited for."""
    out = subprocess.run([sys.executable, "-c", _RSS, sys.executable, "-m", "keytrail", *args],
                         capture_output=True, text=True, check=True, timeout=600)
    rc, kb = out.stdout.split()
    return int(rc), int(kb) / 1024


def _check_big(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "big.json"
    n = _big_log(path, variant)
    assert path.stat().st_size >= 100 << 20
    rc, mb = _peak_rss_mb("ingest", str(path), "--db", str(tmp_path / "big.duckdb"), "-q")
    assert rc == (0 if variant == "plain" else 3)  # the NaN record, the 100 MB value: rejected, named
    print(f"100 MB single-line file ({variant}, {n} records): peak RSS {mb:.0f} MB")
    assert mb <= 1024, f"peak RSS {mb:.0f} MB for a 100 MB file ({variant})"


def test_a_100_mb_single_line_log_file_stays_under_1_gb(tmp_path: Path) -> None:
    _check_big(tmp_path, "plain")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["one NaN", "one 100 MB string"])
def test_a_100_mb_single_line_file_read_by_the_tolerant_path_stays_under_1_gb(tmp_path: Path, variant: str) -> None:
    _check_big(tmp_path, variant)


# ---- the same file named twice is read once ---------------------------------------------------------


def test_the_same_file_named_twice_linked_or_under_a_directory_given_is_counted_once(tmp_path: Path) -> None:
    # records without eventID: only reading the file once keeps them from being counted twice
    log = tmp_path / "logs" / "a.json"
    log.parent.mkdir()
    log.write_text(json.dumps({"Records": [corpus.decoy(1, eventID=None), corpus.decoy(2, eventID=None)]}))
    (tmp_path / "link.json").symlink_to(log)
    for args in ([str(log), str(log)], [str(log.parent), str(log)], [str(log), str(tmp_path / "link.json")],
                 [str(tmp_path)]):
        result = _run(["usage", *args, "--format", "json", "--workers", "1"])
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.stdout)
        assert row["decrypt"] == 2, args
        assert re.match(r"keytrail: [\d,]+ records? in 1 file\b", result.stderr.splitlines()[-1])


def test_file_names_that_are_not_utf8_are_read_named_and_remembered(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(os.path.join(os.fsencode(logs), b"\xff-good.json"), "wb") as f:
        f.write(json.dumps({"Records": [corpus.decoy(1)]}).encode())
    with open(os.path.join(os.fsencode(logs), b"\xfe-bad.json"), "wb") as f:
        f.write(b"{broken")
    db = str(tmp_path / "t.duckdb")
    first = _run(["ingest", str(logs), "--db", db, "--workers", "1"])
    assert first.exit_code == 3
    assert first.stderr.splitlines()[0] == f"keytrail: error: {logs}/\\udcfe-bad.json: not valid JSON (Expecting property name enclosed in double quotes)"
    again = _run(["ingest", str(logs), "--db", db, "--workers", "1"])
    assert again.exit_code == 3
    assert "0 records in 0 files; 1 file unchanged since the last ingest; 1 file unreadable" in again.stderr.splitlines()[-1]
    (row,) = json.loads(_run(["usage", "--db", db, "--format", "json"]).stdout)
    assert row["decrypt"] == 1


def test_a_record_with_a_value_too_long_to_store_is_rejected_alone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import keytrail.pipeline.worker as pipeline

    monkeypatch.setattr(pipeline, "MAX_TEXT", 300)  # stands for 1,000,000 bytes
    long = "x" * 301
    path = tmp_path / "log.json"
    path.write_text(json.dumps({"Records": [
        corpus.decoy(1), corpus.decoy(2, userAgent=long), corpus.decoy(3),
        corpus.decoy(4, eventName="CreateAlias", requestParameters={"aliasName": f"alias/{long}",
                                                                   "targetKeyId": corpus.DECOY_KEY}),
        corpus.decoy(5, errorCode="AccessDenied", errorMessage=long),
    ]}))
    result = _run(["usage", str(path), "--format", "json", "--workers", "1"])
    assert result.exit_code == 3
    assert result.stderr.splitlines()[:3] == [
        f"keytrail: skipped record: {path}: record 1: user_agent holds a value longer than 300 bytes: "
        "not a field CloudTrail writes",
        f"keytrail: skipped record: {path}: record 3: alias change holds a value longer than 300 bytes: "
        "not a field CloudTrail writes",
        f"keytrail: skipped record: {path}: record 4: error_message holds a value longer than 300 bytes: "
        "not a field CloudTrail writes",
    ]
    assert "5 records in 1 file (2 KMS calls, 2 key-use rows, 3 records rejected)" in result.stderr.splitlines()[-1]
    (row,) = json.loads(result.stdout)
    assert (row["decrypt"], row["denied"], row["admin"]) == (2, 0, 0)
