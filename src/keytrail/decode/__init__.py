"""Decoding: a file's bytes -> the CloudTrail records it holds, typed where the normaliser reads them.

``read_records(data, uri)`` recognises the file's shape (``shapes``: the fast path for log files,
``tolerant``: every other shape and what the fast path cannot decode) and returns a
``FileRecords``; ``record`` holds the typed ``Record`` the normaliser reads, ``hints`` the identity
hints taken from every record.
"""

from keytrail.decode.record import FileRecords, Record
from keytrail.decode.shapes import NEEDED_FIELDS, gunzip_if_needed, read_records
from keytrail.errors import NotCloudTrail

__all__ = ["NEEDED_FIELDS", "FileRecords", "NotCloudTrail", "Record", "gunzip_if_needed", "read_records"]
