"""What each SOURCE held: the tally that tells a SOURCE without CloudTrail log files from one with some."""

from __future__ import annotations

from pathlib import Path

from keytrail.pipeline import ingest
from keytrail.pipeline.origins import LOG, Origins, OriginTally, no_logs
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests import factory as fx
from tests.factory import KEY_A, kms, user


def test_a_file_counts_for_every_source_it_was_found_under() -> None:
    origins = Origins()
    origins.declare(("a/", "b/", "c/"))
    origins.listed("a/", "a/x.json")
    origins.again("b/", "a/x.json", known="unused")
    origins.listed("c/", outcome="CloudTrail digest file")
    origins.read("a/x.json", LOG)
    assert origins.without_logs() == ["c/"]
    assert no_logs("c/", origins.tallies["c/"], None) == "c/: no CloudTrail log file: found 1 CloudTrail digest file(s)"
    assert no_logs("d/", OriginTally(), "d/ holds no file") == "d/: no CloudTrail log file: d/ holds no file"
    assert no_logs("e/", OriginTally(listed=2, unreadable=2), None) == "e/: no CloudTrail log file: it could not be read"


def test_ingest_reports_the_sources_without_log_files(tmp_path: Path) -> None:
    logs = fx.write(tmp_path / "logs" / "a.json", fx.log_file([kms("Decrypt", user("x"), KEY_A, None)])).parent
    notes = fx.write(tmp_path / "notes" / "n.json", fx.usage_output()).parent
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = fx.write(tmp_path / "bad" / "b.json", b'{"Records": [').parent
    paths = (str(logs), str(notes), str(empty), str(bad), str(logs / "a.json"))
    with Store() as store:
        report = ingest([LocalSource(paths)], store, workers=1)
        assert report.sources == 5
        assert report.sources_without_logs == [
            f"{notes}: no CloudTrail log file: found 1 file(s): valid JSON, not CloudTrail: an array without CloudTrail events",
            f"{empty}: no CloudTrail log file: {empty} holds no file",
        ]
        assert report.sources_unreadable == [str(bad)]
        assert not report.nothing_read
        # a second run: the log file is unchanged, and still counts as one
        again = ingest([LocalSource((str(logs),))], store, workers=1)
        assert (again.files_unchanged, again.sources_without_logs, again.nothing_read) == (1, [], False)
        nothing = ingest([LocalSource((str(empty), str(notes)))], store, workers=1)
        assert nothing.nothing_read
