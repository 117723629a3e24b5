"""The summary an ingest leaves on stderr, in human units: thousands separators, files and records
counted in words ("37 records in 2 files"), the time and the read rate."""

from __future__ import annotations

from keytrail.cli.stderr import summary_line
from keytrail.pipeline import IngestReport


def test_a_large_ingest_in_human_units() -> None:
    report = IngestReport(files_ingested=132, files_skipped=116, records=28_131, kms_records=13_155, rows=13_432,
                          bytes_read=9_400_000, seconds=2.21,
                          skip_reasons={"valid JSON, not CloudTrail": 113, "CloudTrail digest file": 3})
    assert summary_line(report) == (
        "28,131 records in 132 files (13,155 KMS calls, 13,432 key-use rows); 116 files skipped "
        "(113 valid JSON, not CloudTrail; 3 CloudTrail digest file); 2.2 s at 4.3 MB/s"
    )


def test_one_of_each_in_the_singular() -> None:
    report = IngestReport(files_ingested=1, files_unchanged=1, files_error=1, records=1, kms_records=1, rows=1,
                          records_rejected=1, records_unattributed=1, bytes_read=1_200_000_000, seconds=75)
    assert summary_line(report) == (
        "1 record in 1 file (1 KMS call, 1 key-use row, 1 record rejected, 1 KMS call unattributable), listed by "
        "`keytrail problems`; 1 file unchanged since the last ingest; 1 file unreadable; 1 min 15 s at 16 MB/s"
    )


def test_nothing_new() -> None:
    report = IngestReport(files_unchanged=2)
    assert summary_line(report) == "0 records in 0 files; 2 files unchanged since the last ingest"


def test_a_small_read_rate_in_kilobytes() -> None:
    report = IngestReport(files_ingested=2, records=37, kms_records=37, rows=37, bytes_read=21_000, seconds=0.5)
    assert summary_line(report) == "37 records in 2 files (37 KMS calls, 37 key-use rows); 0.5 s at 42 kB/s"


def test_a_tiny_read_rate_in_bytes() -> None:
    report = IngestReport(files_ingested=1, records=4, kms_records=2, rows=2, bytes_read=900, seconds=1.8)
    assert summary_line(report) == "4 records in 1 file (2 KMS calls, 2 key-use rows); 1.8 s at 500 B/s"
