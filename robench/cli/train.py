"""``robench train``: train a zoo architecture into a checkpoint with a named recipe; re-running resumes."""

from __future__ import annotations

import click

from robench.cli.options import data_dir_option, dataset_option, device_option

RECIPES = "darts, pdarts, random-ensemble, robnet-pgd, advrush-pgd, arnas-pgd, trades, fast-at"


@click.command("train")
@click.argument("name")
@dataset_option
@click.option("--recipe", default="fast-at", show_default=True, help=f"Training recipe preset: {RECIPES}.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the recipe's epoch count.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override any recipe field, e.g. --set lr=0.05 --set decay_epochs=30,60 (repeatable).")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Network width: C for cell-based networks, the base width for baselines.")
@click.option("--layers", type=click.IntRange(min=1), default=None, help="Number of cells (cell-based networks).")
@click.option("--genotype", default=None, metavar="GENOTYPE|RESULT.json",
              help="The architecture: a genotype string, or the result.json of `robench search` "
                   "(default: the entry's published genotype).")
@click.option("--n-train", type=click.IntRange(min=1), default=None,
              help="Train on a fixed subset of this many training images (default: the whole split).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Run directory; the same command on the same directory resumes the run.")
@device_option
@data_dir_option
@click.option("--seed", type=int, default=None, help="Override the recipe's seed.")
@click.option("--save-every", type=click.IntRange(min=1), default=None,
              help="Also save a resumable state every N steps (one is always saved after each epoch).")
@click.option("--log-every", type=click.IntRange(min=1), default=50, show_default=True,
              help="Write a JSON log record every N steps.")
@click.pass_context
def train_cmd(ctx: click.Context, name, dataset, recipe, epochs, settings, width, layers, genotype, n_train, out,
              device, data_dir, seed, save_every, log_every) -> None:  # fmt: skip
    """Train zoo architecture NAME with a recipe and write a verified checkpoint.

    \b
    Examples:
      robench train advrush --recipe advrush-pgd --out runs/advrush
      robench train resnet18_small --recipe fast-at --width 32 --epochs 10 --out runs/r18
      robench train darts_v2 --recipe darts --set batch_size=64 --n-train 5000 --out runs/darts
      robench train advrush --genotype runs/search/result.json --recipe advrush-pgd --out runs/found
    """
    from robench.search.run import read_genotype
    from robench.train import Recipe, architecture_args, parse_settings, train

    overrides = Recipe.from_preset(recipe).with_settings(parse_settings(settings))
    if epochs is not None:
        overrides = overrides.replace(epochs=epochs)
    if seed is not None:
        overrides = overrides.replace(seed=seed)
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    result = train(
        name,
        out,
        dataset=dataset,
        recipe=overrides,
        model_args=architecture_args(name, width=width, layers=layers,
                                     genotype=read_genotype(genotype).to_str() if genotype else None),
        n_train=n_train,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
        save_every_steps=save_every,
        log_every=log_every,
    )
    metrics = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.metrics.items() if v is not None)  # fmt: skip
    click.echo(f"trained {name}: {metrics}")
    click.echo(f"checkpoint: {result.checkpoint}")
    click.echo(f"evaluate it: robench eval local-dir:{result.checkpoint} --dataset {dataset}")
