"""``robench search``: run a robust architecture search; re-running the same command resumes it."""

from __future__ import annotations

import click

from robench.cli.options import data_dir_option, dataset_option, device_option, executor_options, progress_bar


@click.command("search")
@click.argument("method")
@dataset_option
@click.option("--preset", default=None, metavar="NAME",
              help="Start from a named configuration: advrush released (the default) or paper; robnet cell-based "
                   "(the default), cell-free, small, medium or large.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override any field of the method's configuration, e.g. --set epochs=10 --set gamma=0.005.")
@click.option("--width", type=click.IntRange(min=2), default=None, help="Supernet width C.")
@click.option("--layers", type=click.IntRange(min=3), default=None, help="Supernet cell count.")
@click.option("--n-train", type=click.IntRange(min=1), default=None,
              help="Search on a fixed subset of this many training images (default: the whole split).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Run directory; the same command on the same directory resumes the search.")
@click.option("--save-every", type=click.IntRange(min=1), default=None,
              help="advrush / arnas: also save a resumable state every N steps (one is saved after each epoch).")
@executor_options("serial", "serial (robnet only: where its candidates are fine-tuned and attacked)")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=None,
              help="robnet with --executor ray: GPUs each candidate reserves (default: 1 when the cluster has GPUs).")
@device_option
@data_dir_option
@click.pass_context
def search_cmd(ctx: click.Context, method, dataset, preset, settings, width, layers, n_train, out, save_every,
               executor, address, num_cpus, gpus_per_task, device, data_dir) -> None:  # fmt: skip
    """Search an architecture with METHOD (advrush, arnas, robnet, random-ensemble); the genotype goes to
    OUT/result.json.

    \b
    Examples:
      robench search advrush --out runs/advrush-search                  # the released code's run
      robench search advrush --preset paper --out runs/advrush-paper    # the paper's description
      robench search arnas --set epochs=10 --n-train 10000 --out runs/arnas-search
      robench search robnet --preset cell-free --set candidates=50 --out runs/robnet-search
      robench search robnet --preset small --out runs/robnet-small      # under a parameter budget
      robench search robnet --executor ray --out runs/robnet            # candidates as Ray tasks
      robench search random-ensemble --set seed=3 --out runs/ensemble
    """
    from robench.errors import RobenchError
    from robench.executor import make_executor
    from robench.search import RobNetSearch, get_search
    from robench.search.differentiable import DifferentiableSearch
    from robench.settings import apply_settings, parse_settings

    search = get_search(method)
    overrides = parse_settings(settings)
    for value, field in ((width, "C"), (layers, "layers")):
        if value is not None:
            overrides[field] = str(value)
    config = apply_settings(search.preset(preset), overrides, f"{search.method} search")
    extra = {}
    if save_every is not None:
        if not issubclass(search, DifferentiableSearch):
            raise RobenchError(f"--save-every applies to advrush and arnas, not {search.method}",
                               hint=f"{search.method} saves its state after every epoch or candidate")  # fmt: skip
        extra["save_every"] = save_every
    if search is RobNetSearch:
        extra.update(executor=make_executor(executor, address=address, num_cpus=num_cpus), gpus_per_task=gpus_per_task)
    elif executor != "serial" or address or gpus_per_task is not None:
        raise RobenchError(f"--executor, --address and --gpus-per-task apply to robnet's candidates, not {search.method}",
                           hint=f"{search.method} trains one supernet in one process: drop them")
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    bar, report = progress_bar(quiet)
    with bar:
        result = search(config, dataset=dataset, out=out, data_dir=data_dir, device=device, n_train=n_train,
                        progress=report, **extra).run()  # fmt: skip
    record = result.record
    click.echo(f"genotype ({record['arch_id']}): {record['genotype']}")
    click.echo(f"result: {result.directory}/result.json")
    click.echo(f"train it: robench train {record['zoo_entry']} --dataset {dataset} "
               f"--genotype {result.directory}/result.json --out runs/{record['zoo_entry']}-{record['arch_id']}")
