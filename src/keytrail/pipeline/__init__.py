"""The ingest pipeline: sources -> decode -> normalise -> store, in worker processes.

``engine`` drives it (``ingest``: list the sources' files, hand them to workers in chunks, register
each chunk in the store, resolve); ``worker`` is what a worker runs (``process_chunk``: read,
decode, normalise, write a segment); ``inventory_run`` takes the KMS inventory into a store.
"""

from keytrail.pipeline.engine import IngestReport, default_workers, ingest
from keytrail.pipeline.inventory_run import InventoryRun, import_inventory, take_inventory
from keytrail.pipeline.worker import (
    Chunk,
    Extracted,
    FileOutcome,
    finish_rows,
    process_batch,
    process_chunk,
    process_file,
)

__all__ = [
    "Chunk",
    "Extracted",
    "FileOutcome",
    "IngestReport",
    "InventoryRun",
    "default_workers",
    "finish_rows",
    "import_inventory",
    "ingest",
    "process_batch",
    "process_chunk",
    "process_file",
    "take_inventory",
]
