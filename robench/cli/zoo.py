"""``robench list``, ``robench info`` and ``robench zoo fetch/convert``: the zoo as tables, and its pretrained
weights. torch is imported only when a command runs."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from robench.cli.options import dataset_option


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,} ({n / 1e6:.2f}M)"


@click.command("list")
@click.argument("pattern", default="*")
@click.option("--pretrained", is_flag=True, help="Only models with packaged pretrained weights.")
def list_cmd(pattern: str, pretrained: bool) -> None:
    """List zoo models whose name matches PATTERN (shell wildcards, e.g. '*darts*').

    Names accept dashes for underscores (robnet-free) and the aliases shown.
    """
    from robench.zoo import get_entry, list_models

    names = list_models(pattern, pretrained=pretrained)
    console = Console()
    if not names:
        console.print(f"no model matches {pattern!r}" + (" with packaged pretrained weights" if pretrained else ""))
        return
    table = Table(title=f"robench zoo: {len(names)} model{'s' if len(names) != 1 else ''}")
    table.add_column("model", no_wrap=True, style="bold")
    table.add_column("family", no_wrap=True)
    table.add_column("data sets", min_width=13)  # wide enough for "tiny-imagenet" on one line
    table.add_column("aliases", overflow="fold")
    table.add_column("pretrained", no_wrap=True)
    for name in names:
        entry = get_entry(name)
        table.add_row(
            name,
            entry.family,
            ", ".join(entry.datasets),
            ", ".join(entry.aliases),
            ", ".join(entry.pretrained_datasets) or "-",
        )
    console.print(table)


@click.command("info")
@click.argument("name")
@dataset_option
def info_cmd(name: str, dataset: str) -> None:
    """Show NAME's architecture, parameter count, origin and the numbers its papers report."""
    from robench.zoo import info
    from robench.zoo.pretrained import describe_sources, not_released

    facts = info(name, dataset)
    console = Console()
    table = Table(title=f"{facts.name} ({facts.dataset})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    normalisation = (
        "none (inputs in [0,1])" if facts.mean is None else f"mean {list(facts.mean)}, std {list(facts.std)}"
    )
    rows = [
        ("description", facts.description),
        ("family", facts.family),
        ("paper", facts.paper),
        ("licence", facts.licence),
        ("data sets", ", ".join(facts.datasets)),
        ("aliases", ", ".join(facts.aliases) or "-"),
        ("parameters", _count(facts.num_params) + " (auxiliary head excluded)"),
        ("auxiliary head", _count(facts.num_params_auxiliary_head)),
        ("with a 100-class head", _count(facts.num_params_100_classes)),
        ("normalisation", normalisation),
        ("arch_id", facts.arch_id or "-"),
        ("genotype", facts.genotype or "-"),
        ("model args", ", ".join(f"{k}={v}" for k, v in facts.model_args.items() if k != "genotype")),
        ("packaged weights", ", ".join(facts.pretrained_datasets) or "none"),
        (f"weight sources ({facts.dataset})", "\n".join(
            f"{i}. {line}" for i, line in enumerate(describe_sources(facts.name, facts.dataset), 1))),
        ("authors' weights", not_released(facts.name) or "-"),
    ]
    for field, value in rows:
        if value != "-" or field in ("aliases", "arch_id", "genotype"):
            table.add_row(field, value)
    console.print(table)
    if not facts.reported:
        console.print("no reported numbers for this architecture in the seed papers")
        return
    reported = Table(title="reported by the papers (accuracy %, not measured by robench)")
    for column in ("source", "data set", "training", "params", "metrics"):
        reported.add_column(column, overflow="fold")
    for r in facts.reported:
        metrics = ", ".join(f"{k} {v:.2f}" for k, v in r.metrics.items())
        reported.add_row(r.source, r.dataset, r.training, r.params or "-", metrics)
    console.print(reported)


@click.group("zoo")
def zoo() -> None:
    """Pretrained weights: pre-download them, or turn an authors' file into a robench checkpoint."""


@zoo.command("fetch")
@click.argument("name")
@dataset_option
@click.pass_context
def fetch_cmd(ctx: click.Context, name: str, dataset: str) -> None:
    """Download, verify and convert NAME's pretrained weights now (for a machine that will be offline)."""
    from robench.zoo.pretrained import fetch

    quiet = (ctx.find_root().obj or {}).get("quiet", False)
    click.echo(fetch(name, dataset, quiet=quiet))


@zoo.command("convert")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--arch", required=True, help="The zoo architecture the file holds weights of.")
@dataset_option
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Checkpoint directory to write (default: ./robench-ARCH-DATASET).")
@click.option("--source", default=None, help="Where the file came from (a URL), recorded in the checkpoint.")
def convert_cmd(file: str, arch: str, dataset: str, out: str | None, source: str | None) -> None:
    """Import FILE (an authors' .pth.tar / .pt, read without running anything it names) into ARCH and write a
    Hub-ready robench checkpoint directory with a model card (for `robench hub push`)."""
    from robench.hub import hub_repo_for, write_card
    from robench.zoo.pretrained import convert

    repo_id = hub_repo_for(arch, dataset)
    directory = convert(file, arch, dataset, out or repo_id.split("/")[-1], source=source)
    write_card(directory, [], repo_id=repo_id)
    click.echo(f"{directory}  (push it with: robench hub push {directory} --repo {repo_id})")
