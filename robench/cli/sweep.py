"""``robench sweep``: run a sweep file's evaluations, trainings, transfer matrices and pipelines as Ray tasks (or
serially), with a live view of the whole sweep and a summary table at the end."""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext

import click

from robench.cli.options import data_dir_option, executor_options
from robench.errors import RobenchError


@click.command("sweep")
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for every task's records (default: the file's out:). On a cluster: shared storage "
                   "that every node mounts at the same path.")
@click.option("--records", type=click.Path(file_okay=False), default=None,
              help="File each eval and transfer record into this leaderboard records folder (default: the file's "
                   "records:, if any).")
@click.option("--replace", is_flag=True, help="With --records: overwrite a different record filed under the same name.")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=None,
              help="GPUs each task reserves (default: the file's gpus:, else 1 when the cluster has GPUs, else 0); "
                   "0.5 runs two tasks per GPU.")
@click.option("--list", "list_only", is_flag=True, help="Show the tasks, their directories and resources; run nothing.")
@executor_options(None, "ray when it is installed, else serial")
@click.option("--device", default=None, metavar="DEVICE",
              help="torch device for every task (default: the GPU a task was given, else cpu).")
@data_dir_option
@click.pass_context
def sweep_cmd(ctx: click.Context, sweep_file, out, records, replace, gpus_per_task, list_only, executor, address,
              num_cpus, device, data_dir) -> None:  # fmt: skip
    """Run every task of SWEEP.yaml that has not finished; rerunning the same command resumes the sweep.

    \b
    A sweep file lists tasks (kind: eval, train, transfer or pipeline, with the
    fields of `robench eval`, `train`, `transfer`, `reproduce`); a grid: of lists
    runs their cross product. Example:
      out: runs/sweep
      tasks:
        - kind: eval
          grid: {model: [advrush_small, resnet18_small], seed: [0, 1]}
          attacks: [pgd20, autoattack]
          n_examples: 500
    \b
    Examples:
      robench sweep leaderboard/sweep.yaml                        # a local Ray on this machine's cores
      robench sweep sweep.yaml --address ray://head:10001 --out /shared/runs/sweep
      robench sweep leaderboard/sweep.yaml --records leaderboard/records && robench leaderboard build
    """
    from robench.executor import make_executor, ray_available
    from robench.sweep import Sweep, SweepRun

    spec = Sweep.read(sweep_file)
    spec = dataclasses.replace(spec, records=records or spec.records, replace=replace or spec.replace,
                               gpus=gpus_per_task if gpus_per_task is not None else spec.gpus)
    run = SweepRun(spec, out, data_dir=data_dir, device=device)
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    if list_only:
        _print_plan(run)
        return
    if executor is None:
        executor = "ray" if ray_available() else "serial"
        if executor == "serial" and not quiet:
            click.echo("note: Ray is not installed, so the tasks run one after another "
                       "(`pip install 'robench[ray]'` runs them in parallel)", err=True)
    runner = make_executor(executor, address=address, num_cpus=num_cpus)
    if not quiet:
        tasks = f"{len(spec.tasks)} task{'s' if len(spec.tasks) != 1 else ''}"
        click.echo(f"{tasks}: {len(run.finished)} finished earlier, {len(run.pending)} to run ({runner.name} "
                   f"executor); records in {run.root}")
    live = _LiveView(run)
    # Ray starts (and says so) before the live view takes the terminal; a finished sweep starts nothing
    with runner if run.pending else nullcontext(), live.display(quiet):
        result = run.run(runner, progress=live.update)
    _print_summary(result)
    if result.failed:
        raise RobenchError(f"{len(result.failed)} of {len(result.reports)} tasks failed (their errors are above)",
                           hint="fix the cause and run the same command again: finished tasks are not run again, "
                                "interrupted ones resume")  # fmt: skip


class _LiveView:
    """The whole sweep on one screen: counts, elapsed time, ETA and the tasks running now."""

    def __init__(self, run):
        self.run = run
        self.labels = {t.key: t.label for t in run.pending}
        self.progress = None
        self.started = time.perf_counter()

    def update(self, progress) -> None:
        self.progress = progress

    def display(self, quiet: bool):
        from rich.live import Live

        return nullcontext() if quiet or not self.run.pending else Live(self, refresh_per_second=2, transient=True)

    def __rich__(self):
        from rich.table import Table

        p = self.progress
        elapsed = time.perf_counter() - self.started
        table = Table(title="sweep", title_justify="left", show_edge=False)
        for column in ("done", "running", "failed", "waiting", "finished earlier", "elapsed", "ETA"):
            table.add_column(column, justify="right")
        if p is None:
            table.add_row("0", "0", "0", str(len(self.run.pending)), str(len(self.run.finished)), _duration(elapsed),
                          "-")
            return table
        eta = p.eta - (elapsed - p.elapsed) if p.eta is not None else None  # counts down between updates
        failed = f"[red]{p.failed}[/red]" if p.failed else "0"
        table.add_row(str(p.done), str(len(p.running)), failed, str(p.waiting), str(len(self.run.finished)),
                      _duration(elapsed), _duration(max(eta, 0)) if eta is not None else "-")
        for key in p.running:
            table.add_row("", f"[cyan]{self.labels.get(key, key)}[/cyan]", "", "", "", "", "")
        return table


def _print_plan(run) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(run.sweep.tasks)} tasks in {run.root}")
    for column in ("kind", "task", "status", "resources", "directory"):
        table.add_column(column)
    gpus = run.sweep.gpus if run.sweep.gpus is not None else 0.0
    for task in run.sweep.tasks:
        status = "finished" if task.key in run.finished else "to run"
        resources = task.resources or task.definition.resources(task.params, gpus)
        table.add_row(task.kind, task.label, status, resources.describe(), task.key)
    Console().print(table)
    if run.sweep.gpus is None:
        click.echo("gpus: auto (1 per task when the cluster has GPUs, else 0)")


def _print_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sweep summary ({result.directory})")
    for column in ("kind", "task", "status", "result", "time"):
        table.add_column(column, overflow="fold")
    for r in result.reports:
        status = f"[red]{r.status}[/red]" if r.error else r.status
        seconds = _duration(r.seconds) if r.seconds is not None else ""
        table.add_row(r.task.kind, r.task.label, status, _summary_text(r.summary), seconds)
    console = Console()
    console.print(table)
    for r in result.failed:
        console.print(f"[red]failed[/red] {r.task.label} ({r.task.key}): {r.error}", highlight=False)


def _summary_text(summary: dict | None) -> str:
    if not summary:
        return ""
    return ", ".join(f"{k.replace('_', ' ')} {v:.1%}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                     for k, v in summary.items() if v is not None)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
