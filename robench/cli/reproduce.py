"""``robench reproduce``: search -> train -> evaluate -> Hub -> leaderboard in one resumable command."""

from __future__ import annotations

from pathlib import Path

import click

from robench.cli.options import data_dir_option, dataset_option, device_option, progress_bar


@click.command("reproduce")
@click.argument("target", metavar="METHOD|PIPELINE.yaml")
@click.option("--scale", type=click.Choice(["tiny", "small", "paper"]), default="small", show_default=True,
              help="Budgets: paper (the papers', for GPUs), small (hours per stage on a CPU), tiny (minutes).")
@dataset_option
@click.option("--recipe", default=None, metavar="NAME",
              help="Train the found architecture with this recipe instead of its paper's (e.g. fast-at).")
@click.option("--name", default=None, help="The model's name in its records (default: METHOD_searched_SCALE).")
@click.option("--repo", default=None, metavar="ORG/NAME",
              help="Hub repo to publish to (default: $ROBENCH_HUB_ORG/robench-NAME-DATASET).")
@click.option("--no-push", is_flag=True, help="Do not publish the checkpoint to the Hub.")
@click.option("--records", type=click.Path(file_okay=False), default=None,
              help="Leaderboard records folder to file the result in (default: leaderboard/records of the "
                   "repository; the leaderboard's pages are rebuilt beside it).")
@click.option("--no-leaderboard", is_flag=True, help="Do not file the result in the leaderboard.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Pipeline directory; the same command on the same directory resumes it.")
@device_option
@data_dir_option
@click.pass_context
def reproduce_cmd(ctx: click.Context, target, scale, dataset, recipe, name, repo, no_push, records, no_leaderboard,
                  out, device, data_dir) -> None:  # fmt: skip
    """Run a search and everything after it: train what it finds, evaluate it under PGD-20 and AutoAttack,
    publish the checkpoint and file its record in the leaderboard. TARGET is a search method (advrush,
    arnas, robnet, random-ensemble: its paper's recipe at --scale) or a pipeline file.

    \b
    Examples:
      robench reproduce advrush --scale paper --out runs/advrush         # on a GPU: the paper's budgets
      robench reproduce robnet --scale small --recipe fast-at --out runs/robnet-small
      robench reproduce my-pipeline.yaml --out runs/mine --no-push
    """
    from dataclasses import replace

    from robench.errors import RobenchError
    from robench.leaderboard.store import find_leaderboard
    from robench.pipeline import Plan, paper_plan, reproduce
    from robench.zoo.hubfetch import hub_org

    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        plan = Plan.read(target)
        if any(ctx.get_parameter_source(p).name != "DEFAULT" for p in ("scale", "recipe", "name", "dataset")):
            raise RobenchError("--scale, --recipe, --name and --dataset apply to a search method, not a pipeline file",
                               hint=f"set them in {target}")  # fmt: skip
    else:
        plan = paper_plan(target, scale, dataset=dataset, recipe=recipe, name=name)
    if no_push and repo:
        raise RobenchError("--repo and --no-push contradict each other", hint="give one of them")
    if no_push:
        plan = replace(plan, repo=None)
    elif repo or plan.repo is None:
        plan = replace(plan, repo=repo or f"{hub_org()}/robench-{plan.name.replace('_', '-')}-{plan.dataset}")
    if no_leaderboard and records:
        raise RobenchError("--records and --no-leaderboard contradict each other", hint="give one of them")
    records_dir = site = None
    if not no_leaderboard:
        records_dir = Path(records) if records else find_leaderboard() / "records"
        site = records_dir.parent
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    bar, report = progress_bar(quiet)
    with bar:
        result = reproduce(plan.resolve(), out, records=records_dir, site=site, data_dir=data_dir, device=device,
                           quiet=quiet, progress=report,
                           on_stage=None if quiet else lambda stage: bar.print(f"[bold]{stage}[/bold]"))
    summary = result.summary
    metrics = summary["evaluate"]
    click.echo(f"{plan.name}: arch_id {summary['search']['arch_id']}, {summary['train']['params']:,} parameters, "
               f"clean {metrics['clean_accuracy']:.2%}, robust {metrics['robust_accuracy']:.2%}")
    click.echo(f"record: {result.directory / 'evaluate' / 'result.json'}")
    if result.published:
        click.echo(f"published: {result.published['repo']} ({result.published['commit'][:12]})")
    if result.filed:
        click.echo(f"leaderboard: {result.filed}")
