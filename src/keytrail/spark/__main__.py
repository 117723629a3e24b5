"""``python -m keytrail.spark`` or ``spark-submit .../keytrail/spark/__main__.py``: spark-ingest.

Arguments are those of ``keytrail spark-ingest`` (SOURCE... -o DIR [--since --until]).
"""

from __future__ import annotations

from collections.abc import Sequence

from keytrail.cli.spark_ingest import spark_ingest_command


def main(argv: Sequence[str] | None = None) -> None:
    spark_ingest_command.main(args=list(argv) if argv is not None else None, prog_name="keytrail.spark")


if __name__ == "__main__":
    main()
