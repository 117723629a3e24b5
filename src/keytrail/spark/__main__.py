"""``python -m keytrail.spark`` or ``spark-submit keytrail_spark.py``: the spark-ingest command.

Arguments are those of ``keytrail spark-ingest`` (SOURCE... -o DIR [--since --until]). ``main``
exits with the command's exit code; ``run`` returns it (for job scripts on platforms that treat
any ``SystemExit`` as a failure). Both live with the command (``keytrail.cli.spark_ingest``): this
module only launches it.
"""

from __future__ import annotations

from keytrail.cli.spark_ingest import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    main()
