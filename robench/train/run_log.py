"""The training log: JSON lines on disk (one record per logged step and per epoch) and a rich progress bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from robench.rundir import atomic_write


class RunLog:
    """Appends JSON records to ``path``; on resume, records past the restored step are dropped first, so the
    log of a resumed run reads exactly like the log of an uninterrupted one (timings aside)."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, global_step: int) -> None:
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if line.strip()
                and json.loads(line).get("step", 0) <= global_step]  # fmt: skip
        atomic_write(self.path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record, allow_nan=False, default=float) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class ProgressDisplay:
    """One bar per epoch with the running loss and accuracies; silent when ``quiet`` or on ranks other than 0."""

    def __init__(self, quiet: bool):
        self.progress = None if quiet else Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = None

    def __enter__(self) -> ProgressDisplay:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start_epoch(self, epoch: int, epochs: int, total: int, completed: int) -> None:
        if self.progress is None:
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("", total=total, completed=completed, epoch=f"{epoch + 1}/{epochs}",
                                           stats="")  # fmt: skip

    def update(self, completed: int, stats: str) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=completed, stats=stats)

    def print(self, message: str) -> None:
        if self.progress is not None:
            self.progress.console.print(message)
