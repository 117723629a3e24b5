"""keytrail demo: the main job on the bundled sample trail, no setup, no AWS account."""

from __future__ import annotations

import sys

import click

from keytrail.analysis import Filters, keys_report, who_uses
from keytrail.analysis.usage import as_dicts
from keytrail.cli.common import fail, output_options
from keytrail.cli.reports import KEYS_COLUMNS, WHO_USES_COLUMNS
from keytrail.errors import KeytrailError
from keytrail.pipeline import ingest
from keytrail.render import render
from keytrail.sample import sample_dir
from keytrail.sources.local import LocalSource
from keytrail.store import Store


@click.command("demo")
@click.option("--key", default="alias/blog-bucket-key", show_default=True, help="The key to ask about.")
@output_options
def demo(key: str, fmt: str, output: str | None) -> None:
    """Who uses the key behind the bucket test-s3-kms-for-blog? (the bundled sample trail)"""
    try:
        with Store() as store:
            report = ingest([LocalSource((str(sample_dir()),))], store, workers=1)
            keys = as_dicts(keys_report(store, Filters()))
            who = as_dicts(who_uses(store, key, Filters()))
            if fmt == "json":
                import orjson

                text = orjson.dumps({"keys": keys, "who_uses": who}, option=orjson.OPT_INDENT_2).decode() + "\n"
            else:
                text = render(keys, KEYS_COLUMNS, fmt, f"Keys in the sample trail ({report.records} records)")
                text += "\n" + render(who, WHO_USES_COLUMNS, fmt, f"Who uses {key}?")
        from keytrail.cli.common import write_text

        write_text(text, output)
    except KeytrailError as e:
        sys.exit(fail(e))
