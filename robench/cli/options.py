"""Options shared by every subcommand, so ``--device`` or ``--data-dir`` mean the same thing everywhere."""

from __future__ import annotations

import click

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
