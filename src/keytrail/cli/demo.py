"""keytrail demo: the main job on the bundled sample trail, no setup, no AWS account."""

from __future__ import annotations

import click
import orjson

from keytrail.analysis import Filters, keys_report, who_uses
from keytrail.analysis.key_names import keys_named
from keytrail.analysis.usage import as_dicts
from keytrail.cli.exits import EXIT_OK, command
from keytrail.cli.options import Output, output_options
from keytrail.cli.reports import KEYS_COLUMNS, WHO_USES_COLUMNS
from keytrail.cli.writing import screen_for, write_text
from keytrail.i18n import _, ngettext
from keytrail.pipeline import ingest
from keytrail.pipeline.processes import arrow_without_pandas
from keytrail.render import render
from keytrail.sources.local import LocalSource
from keytrail.sources.sample import sample_dir
from keytrail.store import Store


@command("demo")
@click.option("--key", default="alias/blog-bucket-key", show_default=True, help="The key to ask about.")
@output_options
def demo(key: str, output: Output) -> int:
    """Who uses the key behind the bucket test-s3-kms-for-blog? (the bundled sample trail)"""
    with Store() as store:
        arrow_without_pandas()  # this process is keytrail's (pipeline.processes)
        report = ingest([LocalSource((str(sample_dir()),))], store, workers=1)
        keys_named(store, key)  # a key the sample does not hold is an error, with the nearest names
        keys = as_dicts(keys_report(store, Filters()))
        who = as_dicts(who_uses(store, key, Filters()))
        screen = screen_for(output)
        title = ngettext("Keys in the sample trail ({n} record)", "Keys in the sample trail ({n} records)",
                         report.records).format(n=report.records)
        if output.fmt == "json":
            text = orjson.dumps({"keys": keys, "who_uses": who}, option=orjson.OPT_INDENT_2).decode() + "\n"
        elif screen is not None:
            from keytrail.cli.reports import who_uses_on_screen
            from keytrail.render.views import keys_text

            text = keys_text(keys, screen, title) + "\n" + who_uses_on_screen(store, key, Filters(), who, "principal",
                                                                              False, screen)
        else:
            text = render(keys, KEYS_COLUMNS, output.fmt, title)
            text += "\n" + render(who, WHO_USES_COLUMNS, output.fmt, _("Who uses {key}?").format(key=key))
    write_text(text, output.path)
    return EXIT_OK
