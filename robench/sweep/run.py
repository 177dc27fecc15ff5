"""Running a sweep: every task that has not finished, through an executor (serial, or Ray tasks), then one report
per task; finished tasks are read back from their records, never run again.

The sweep directory::

    sweep.json              the expanded task list: each task's kind, fields and directory
    <kind>/<label>-<hash>/  one run directory per task (robench.evaluate's, robench.train's, a transfer matrix's)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robench.errors import RobenchError
from robench.executor import Job, Outcome, ProgressFn, SerialExecutor, gpus_per_job
from robench.leaderboard.store import add_record
from robench.rundir import atomic_write, make_dir
from robench.sweep.kinds import execute
from robench.sweep.spec import Sweep, SweepTask

PLAN_FILE = "sweep.json"
RAN, FINISHED, FAILED = "done", "finished earlier", "failed"


@dataclass(frozen=True)
class TaskReport:
    task: SweepTask
    directory: Path
    status: str  # RAN, FINISHED or FAILED
    summary: dict[str, Any] | None = None
    error: str | None = None  # why it failed, or why its record could not be filed
    seconds: float | None = None
    filed: Path | None = None


@dataclass(frozen=True)
class SweepResult:
    directory: Path
    reports: tuple[TaskReport, ...]

    @property
    def failed(self) -> list[TaskReport]:
        return [r for r in self.reports if r.error is not None]


class SweepRun:
    """``sweep`` with its run directories under ``out`` (default: the sweep file's ``out``). ``data_dir`` and
    ``device`` apply to every task (None: each worker's own ``$ROBENCH_DATA``, and the GPU it was given if any)."""

    def __init__(self, sweep: Sweep, out: str | Path | None = None, *, data_dir: str | Path | None = None,
                 device: str | None = None):  # fmt: skip
        root = out or sweep.out
        if root is None:
            raise RobenchError("the sweep has no output directory",
                               hint="add out: DIR to the sweep file, or pass --out")
        # absolute: a worker's working directory is not this process's, and on a cluster not even on this machine
        self.root = Path(root).expanduser().resolve()
        self.sweep = sweep
        self.data_dir = str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None
        self.device = device
        self.directories = {t.key: self.root / t.key for t in sweep.tasks}
        self.finished = {t.key: s for t in sweep.tasks if (s := t.definition.finished(self.directories[t.key]))}
        self.pending = [t for t in sweep.tasks if t.key not in self.finished]

    def run(self, executor: Any = None, progress: ProgressFn | None = None) -> SweepResult:
        """Run the pending tasks on ``executor`` (default: serial), file the records if the sweep says so."""
        make_dir(self.root, "sweep directory")
        self._write_plan()
        outcomes: dict[str, Outcome] = {}
        if self.pending:  # a finished sweep starts nothing, not even Ray
            executor = executor or SerialExecutor()
            with executor:
                gpus = gpus_per_job(executor, self.sweep.gpus)
                outcomes = {o.key: o for o in executor.run([self._job(t, gpus) for t in self.pending],
                                                           progress=progress)}
        return SweepResult(self.root, tuple(self._report(t, outcomes.get(t.key)) for t in self.sweep.tasks))

    def _job(self, task: SweepTask, gpus: float) -> Job:
        resources = task.resources or task.definition.resources(task.params, gpus)
        args = (task.kind, task.params, str(self.directories[task.key]), self.data_dir, self.device)
        return Job(task.key, execute, args, resources=resources, retries=self.sweep.retries)

    def _report(self, task: SweepTask, outcome: Outcome | None) -> TaskReport:
        directory = self.directories[task.key]
        if outcome is None:
            report = TaskReport(task, directory, FINISHED, summary=self.finished[task.key])
        elif not outcome.ok:
            return TaskReport(task, directory, FAILED, error=outcome.error, seconds=outcome.seconds)
        else:
            report = TaskReport(task, directory, RAN, summary=outcome.value, seconds=outcome.seconds)
        record = task.definition.record
        if self.sweep.records is None or record is None:
            return report
        try:
            filed = add_record(record(directory), self.sweep.records, replace=self.sweep.replace)
        except RobenchError as err:
            return TaskReport(task, directory, report.status, report.summary, f"not filed: {err}", report.seconds)
        return TaskReport(task, directory, report.status, report.summary, None, report.seconds, filed)

    def _write_plan(self) -> None:
        plan = [{"key": t.key, "kind": t.kind, "params": t.params} for t in self.sweep.tasks]
        text = json.dumps({"tasks": plan}, indent=2, sort_keys=True) + "\n"
        path = self.root / PLAN_FILE
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write(path, text)


def sweep(source: str | Path | Sweep, out: str | Path | None = None, executor: Any = None, *,
          data_dir: str | Path | None = None, device: str | None = None,
          progress: ProgressFn | None = None) -> SweepResult:  # fmt: skip
    """Run the sweep file ``source`` (or a :class:`Sweep`) on ``executor`` (default: serial)."""
    spec = source if isinstance(source, Sweep) else Sweep.read(source)
    return SweepRun(spec, out, data_dir=data_dir, device=device).run(executor, progress)
