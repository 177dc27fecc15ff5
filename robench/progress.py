"""The one progress display: a rich bar per named task (an evaluation stage, a search phase, a training epoch),
with an optional line of statistics, on stderr so that standard output stays the command's result; and the
callback through which the parts report to it."""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

ProgressFn = Callable[[str, int, int], None]  # (task, done, total): what the evaluator, searches and analyses report


class ProgressBars:
    """Bars that appear as tasks are first reported; ``quiet`` shows nothing."""

    def __init__(self, quiet: bool = False):
        self.bars = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                             console=Console(stderr=True), disable=quiet)  # fmt: skip
        self.quiet = quiet
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> ProgressBars:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def report(self, task: str, done: int, total: int, stats: str | None = None) -> None:
        """``done`` of ``total`` steps of ``task``; ``stats`` replaces its statistics line (None keeps it)."""
        if task not in self._tasks:
            self._tasks[task] = self.bars.add_task(task, total=max(total, 1), stats="")
        fields = {} if stats is None else {"stats": stats}
        self.bars.update(self._tasks[task], completed=done if total else 1, total=max(total, 1), **fields)

    def finish(self, task: str) -> None:
        """Take the task's bar away (a training run shows the current epoch only)."""
        if task in self._tasks:
            self.bars.remove_task(self._tasks.pop(task))

    def print(self, message: str) -> None:
        if not self.quiet:
            self.bars.console.print(message)
