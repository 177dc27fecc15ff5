"""``robench data``: show where the benchmark data are, and decode them into the tensor cache."""

from __future__ import annotations

import click

from robench.cli.options import data_dir_option


@click.group("data")
def data() -> None:
    """Show, verify and prepare the benchmark data sets.

    \b
    Examples:
      robench data info
      robench data prepare cifar10 --download
      robench data prepare tiny-imagenet --split test --data-dir /data
    """


@data.command("info")
@data_dir_option
def info(data_dir: str | None) -> None:
    """Show where each split is, its size, and whether it is cached."""
    from rich.console import Console
    from rich.table import Table

    from robench.data import data_roots, get_dataset, list_datasets, split_status
    from robench.data.cache import cache_dir

    table = Table("data set", "split", "found", "where", "images", "cached")
    table.columns[3].overflow = "fold"  # a path is only useful whole
    missing = []
    for name in list_datasets():
        spec = get_dataset(name)
        for split in spec.splits:
            status = split_status(name, split, data_dir)
            official = spec.split_sizes[split]
            if status.n_images is None:
                images = "?"
            elif status.n_images < official:
                images = f"{status.n_images:,} of {official:,}"
            else:
                images = f"{status.n_images:,}"
            if status.where is None:
                missing.append(name)
                table.add_row(name, split, "[red]no[/]", "", "", "")
            elif status.problem:
                table.add_row(name, split, "[yellow]damaged[/]", f"{status.where}: {status.problem}", "", "")
            else:
                cached = "[green]yes[/]" if status.cache_file else "no"
                table.add_row(name, split, "[green]yes[/]", str(status.where), images, cached)
    console = Console()
    console.print(table)
    console.print(f"data roots searched, in order: {', '.join(str(root) for root in data_roots(data_dir))}")
    console.print(f"tensor cache: {cache_dir()}")
    for name in dict.fromkeys(missing):
        how = "see `robench data prepare --help`" if name == "imagenet" else f"`robench data prepare {name} --download`"
        console.print(f"[dim]{name}: {how}[/]")


@data.command("prepare")
@click.argument("dataset")
@click.option("--split", "splits", multiple=True, metavar="SPLIT", help="Split to prepare (repeatable; default: all).")
@data_dir_option
@click.option("--download", is_flag=True, help="Download the data set into the data root first if it is missing.")
def prepare(dataset: str, splits: tuple[str, ...], data_dir: str | None, download: bool) -> None:
    """Decode DATASET's splits into the tensor cache and verify them.

    Counts, shapes and labels are checked; a cached split is re-verified against its sha256. ImageNet cannot be
    downloaded: put the validation images at <root>/imagenet/val/<wnid>/*.JPEG with the 1000-line
    <root>/imagenet/synset_words.txt, and pass --data-dir <root> or set ROBENCH_DATA=<root>.
    """
    from robench.data import get_dataset, prepare_split

    from robench.errors import RobenchError

    spec = get_dataset(dataset)
    failures: list[RobenchError] = []
    for split in dict.fromkeys(spec.resolve_split(s) for s in splits or spec.splits):
        try:
            result = prepare_split(spec.name, split, data_dir, download)
        except RobenchError as err:
            click.echo(f"{spec.name} {split}: failed", err=True)
            failures.append(err)
            continue
        tensors = result.split
        counts = tensors.labels.bincount(minlength=tensors.num_classes)
        low, high = int(counts.min()), int(counts.max())
        per_class = f"{low:,} per class" if low == high else f"{low:,}-{high:,} per class"
        shape = "x".join(str(d) for d in tensors.images.shape[1:])
        action = "decoded and cached" if result.decoded else "read from the cache and verified"
        click.echo(
            f"{spec.name} {split}: {len(tensors):,} images {shape}, {tensors.num_classes} classes ({per_class}); "
            f"{action} in {result.seconds:.1f} s"
        )
        if tensors.partial:
            click.echo(f"  partial: {len(tensors):,} of the official {tensors.official_size:,} images")
        click.echo(f"  source {tensors.source}")
        click.echo(f"  cache  {result.cache_file or '(not written)'}")
        click.echo(f"  sha256 {tensors.sha256}")
    if failures:
        raise RobenchError("; ".join(err.message for err in failures), hint=failures[0].hint)
