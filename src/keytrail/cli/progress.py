"""A progress bar on stderr for long ingests (only when stderr is a terminal)."""

from __future__ import annotations

import time

from rich.progress import TaskID

from keytrail.i18n import _
from keytrail.pipeline import IngestReport
from keytrail.render.words import megabytes_per_second, number


class ProgressBar:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn(_("{files} files").format(files="{task.fields[files]}")),
            TextColumn(_("{records} records").format(records="{task.fields[records]}")),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: TaskID | None = None
        self._start = time.perf_counter()

    def __call__(self, r: IngestReport) -> None:
        done = r.files_done
        elapsed = max(1e-6, time.perf_counter() - self._start)
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(_("ingest"), total=r.files_new, files="", records="0", rate="")
        self._progress.update(
            self._task,
            completed=done,
            total=max(r.files_new, done),
            files=f"{number(done)}/{number(max(r.files_new, done))}",
            records=number(r.records),
            rate=megabytes_per_second(r.bytes_done, elapsed),
        )
        if done >= r.files_new:
            self._progress.stop()
