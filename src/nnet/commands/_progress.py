"""Download progress on stderr: one rich bar per file on a terminal, nothing in pipes or cron
(the callback a service's `on_bytes` takes, e.g. services/result.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["DownloadBars"]


class DownloadBars:
    """`with DownloadBars() as bars: fetch(..., on_bytes=bars)`: a bar per file name, its total
    once known; drawn only when stderr is a terminal (or `show`)."""

    def __init__(self, *, show: bool | None = None) -> None:
        self.show = sys.stderr.isatty() if show is None else show
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> DownloadBars:
        if self.show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, name: str, done: int, total: int | None) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(name, total=total)
        self._progress.update(task, completed=done, total=total)
