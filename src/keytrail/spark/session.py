"""Starting (or joining) a Spark session; pyspark is an optional dependency imported only here and
in ``keytrail.spark.job``."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from keytrail.errors import SparkUnavailableError
from keytrail.i18n import _

INSTALL_HINT = "pip install 'keytrail[spark]'"


def require_pyspark() -> None:
    """Raise a clear error naming the install command when pyspark is absent."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        raise SparkUnavailableError(
            _("keytrail's Spark job needs Apache Spark's Python package (pyspark): {install}").format(install=INSTALL_HINT)
        ) from e


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None, app_name: str = "keytrail") -> Any:
    """The active Spark session, or a new one.

    Under ``spark-submit`` (or on Databricks / Glue) the cluster's session is joined and
    ``master`` should stay None; run from a plain Python process without ``master``, Spark
    starts in local mode on every core.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    if master is not None and master.startswith("local"):
        # the Python workers of a local session must be this interpreter (this keytrail)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as e:  # pyspark raises PySparkRuntimeError (JAVA_GATEWAY_EXITED) without a JVM
        if "JAVA_GATEWAY" in str(e) or "java" in str(e).lower():
            raise SparkUnavailableError(
                _("Spark could not start its JVM: install Java 17 or later (java on PATH, or JAVA_HOME) ({reason})")
                .format(reason=e)
            ) from e
        raise
