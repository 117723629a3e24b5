"""keytrail on Apache Spark: the local engine's normaliser and resolver rules, Parquet out.

    keytrail spark-ingest SOURCE... -o DIR        (or: python -m keytrail.spark / spark-submit)
    keytrail usage --parquet DIR

Modules: ``job`` (the Spark job; imports pyspark), ``hadoop`` (its file systems and inputs),
``tasks`` (what the executors run: keytrail's worker code and ``stages``, the resolver's SQL over a
partition), ``commit`` (atomic output), ``schema`` (explicit schemas, the dataset's columns),
``session`` (starting Spark; the clear error when pyspark or Java is absent). Importing this
package does not import pyspark.
"""

__all__: list[str] = []
