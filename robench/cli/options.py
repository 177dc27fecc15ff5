"""Options shared by every subcommand, so ``--device`` or ``--data-dir`` mean the same thing everywhere."""

from __future__ import annotations

import click

from robench.progress import ProgressBars

device_option = click.option(
    "--device",
    default=None,
    metavar="DEVICE",
    help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda when available, else cpu).",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data root (default: $ROBENCH_DATA, then ~/.cache/robench/data).",
)
dataset_option = click.option(
    "--dataset",
    default="cifar10",
    show_default=True,
    help="cifar10, cifar100, svhn, tiny-imagenet or imagenet.",
)


def progress_bar(quiet: bool):
    """The progress display (robench.progress) and the ``(task, done, total)`` callback that the evaluator, the
    searches and the analyses report to."""
    bars = ProgressBars(quiet)
    return bars, bars.report


def executor_options(default: str | None, default_text: str):
    """``--executor``, ``--address`` and ``--num-cpus``: where many independent jobs run (robench.executor)."""

    def decorate(fn):
        fn = click.option("--num-cpus", type=click.IntRange(min=1), default=None,
                          help="Size of the local Ray started when there is no address (default: every core).")(fn)
        fn = click.option("--address", default=None,
                          help="The Ray cluster to join (default: $RAY_ADDRESS, else a local Ray), e.g. "
                               "ray://head:10001.")(fn)
        return click.option("--executor", type=click.Choice(["serial", "ray"]), default=default,
                            help="Run the jobs one after another in this process, or as Ray tasks on a local Ray or "
                                 f"the --address cluster (needs robench[ray]). Default: {default_text}.")(fn)

    return decorate
