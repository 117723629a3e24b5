"""``python -m keytrail.spark`` or ``spark-submit keytrail_spark.py``: the spark-ingest command.

Arguments are those of ``keytrail spark-ingest`` (SOURCE... -o DIR [--since --until]).
``main`` exits with the command's exit code; ``run`` returns it (for job scripts on platforms
that treat any ``SystemExit`` as a failure).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from keytrail.cli.spark_ingest import spark_ingest_command

PROG = "keytrail.spark"


def main(argv: Sequence[str] | None = None) -> None:
    spark_ingest_command.main(args=list(argv) if argv is not None else None, prog_name=PROG)


def run(argv: Sequence[str]) -> int:
    """Run spark-ingest with these arguments; its exit code (0 ok, 2 usage or error, 3 partial input)."""
    try:
        spark_ingest_command.main(args=list(argv), prog_name=PROG, standalone_mode=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except click.ClickException as e:  # bad options: shown as the command line shows them
        e.show()
        return e.exit_code
    return 0


if __name__ == "__main__":
    main()
