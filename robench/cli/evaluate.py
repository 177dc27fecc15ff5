"""``robench eval`` and ``robench transfer``: parse, call robench.evaluate, show a table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from robench.cli.options import data_dir_option, dataset_option, device_option, progress_bar
from robench.errors import RobenchError


def model_source(model: str, arch: str | None) -> tuple[str, str | None]:
    """A directory is a checkpoint directory; a file is an original checkpoint of the architecture ``arch``."""
    from robench.zoo.sources import looks_like_path  # the zoo imports torch: not for `robench eval --help`

    path = Path(model).expanduser()
    if ":" not in model and path.is_dir():
        return f"local-dir:{path.resolve()}", None
    if ":" not in model and path.is_file():
        if arch is None:
            raise RobenchError(f"{model} is a checkpoint file, so robench needs its architecture",
                               hint="add --arch NAME (see `robench list`)")
        return arch, str(path)
    if ":" not in model and looks_like_path(model):
        raise RobenchError(f"no such file or directory: {model}",
                           hint="give an existing checkpoint file or directory, hf-hub:org/name, or a zoo name "
                                "(`robench list`)")  # fmt: skip
    return model, None


def speed_options(fn):
    """``--compile``, ``--channels-last`` and ``--amp``: the speed options that can change a number, each off by
    default and named in the record when used (the exact speed-ups are always on)."""
    fn = click.option("--amp", default=None, metavar="DTYPE",
                      help="CUDA mixed precision (autocast), bf16 or fp16; numbers can change, the record says so.")(fn)
    fn = click.option("--channels-last", is_flag=True,
                      help="CUDA channels_last memory format; numbers can change, the record says so.")(fn)
    return click.option("--compile", "compile_model", is_flag=True,
                        help="torch.compile the model: faster after a slow first call, but fused kernels round "
                             "differently, so numbers can change; the record says so.")(fn)


def _speed(compile_model: bool, channels_last: bool, amp: str | None):
    from robench.evaluate.speed import SpeedOptions

    return SpeedOptions(compile=compile_model, channels_last=channels_last, amp=amp)


def _default_out(model: str, dataset: str, attacks, n_examples, seed, eps) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "__".join(
        [model, dataset, "+".join(attacks), f"n{n_examples or 'all'}", f"s{seed}", f"eps{eps or 'default'}"]))
    return Path("runs") / "eval" / slug


@click.command("eval")
@click.argument("model")
@dataset_option
@click.option("--attack", "attacks", multiple=True, default=("pgd20",), show_default=True,
              help="Attack preset, repeatable (fgsm, pgd20, pgd100, autoattack, …; `--attack list` shows all). "
                   "Settings: pgd:steps=50,alpha=1/255.")
@click.option("--threat-model", default=None, help="Linf or L2 (default: the data set's standard one).")
@click.option("--eps", default=None, help="Perturbation budget, e.g. 8/255 (default: the threat model's).")
@click.option("--n-examples", type=int, default=None, help="Evaluate a deterministic subset of N test images.")
@click.option("--batch-size", type=int, default=None, help="Default: the fastest of a few sizes, measured on this model and device.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--independent", is_flag=True,
              help="Run every attack on all clean-correct points (per-attack accuracies) instead of chaining.")
@click.option("--no-checks", is_flag=True, help="Skip the gradient-masking sanity checks.")
@click.option("--arch", default=None, help="Architecture of MODEL when MODEL is an original checkpoint file.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for the result record and progress log (default: runs/eval/…); rerun to resume.")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
@speed_options
@device_option
@data_dir_option
@click.pass_context
def eval_cmd(ctx, model, dataset, attacks, threat_model, eps, n_examples, batch_size, seed, independent, no_checks,
             arch, out, as_json, compile_model, channels_last, amp, device, data_dir):
    """Evaluate MODEL (a zoo name, hf-hub:org/name, local-dir:PATH, a checkpoint directory or file)."""
    if attacks == ("list",):
        from robench.evaluate.presets import PRESETS

        for name, preset in PRESETS.items():
            click.echo(f"{name:<16} {preset.description}")
        return
    from robench import zoo
    from robench.evaluate import evaluate

    quiet = (ctx.find_root().obj or {}).get("quiet", False) or as_json
    from robench.evaluate.runner import resolve_threat_model
    from robench.evaluate.attacks import resolve_attack

    threat = resolve_threat_model(dataset, threat_model, eps)  # fail on a typo before loading anything
    for attack in attacks:
        resolve_attack(attack, threat)
    source, checkpoint = model_source(model, arch)
    loaded = zoo.load(source, dataset=dataset, checkpoint=checkpoint, device=device) if checkpoint else source
    out_dir = Path(out) if out else _default_out(model, dataset, attacks, n_examples, seed, eps)
    bar, report = progress_bar(quiet)
    with bar:
        result = evaluate(loaded, dataset=dataset, attacks=attacks, n_examples=n_examples, batch_size=batch_size,
                          seed=seed, threat_model=threat_model, eps=eps, chain=not independent, checks=not no_checks,
                          speed=_speed(compile_model, channels_last, amp), data_dir=data_dir, device=device,
                          out=out_dir, model_name=model, progress=report)
    if as_json:
        click.echo(json.dumps(result.record, indent=2, sort_keys=True))
        return
    _print_result(result.record, out_dir, independent)


def _print_result(record: dict, out_dir: Path, independent: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    m = record["metrics"]
    tm = record["threat_model"]
    table = Table(title=f"{record['model']['name']} on {record['dataset']['name']} "
                        f"({record['dataset']['n_examples']} images, {tm['norm']} eps={tm.get('eps_text', tm['eps'])})")
    table.add_column("metric")
    table.add_column("accuracy", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_row("clean", f"{m['clean_accuracy']:.2%}", "{:.1%}-{:.1%}".format(*m["clean_ci95"]))
    for name, value in m["per_attack"].items():
        table.add_row(name if independent else f"after {name}", f"{value:.2%}", "")
    if m["robust_accuracy"] is not None:
        table.add_row("robust (worst case)", f"{m['robust_accuracy']:.2%}", "{:.1%}-{:.1%}".format(*m["robust_ci95"]))
        table.add_row("HRS", f"{m['hrs']:.2%}", "")
    console = Console()
    console.print(table)
    for row in record.get("reproduction", []):
        verdict = "[green]within[/green]" if row["within"] else "[red]outside[/red]"
        console.print(f"paper: {row['metric']} {row['paper']:.2%} ({row['source']}, {row['row']}) is {verdict} "
                      f"robench's 95% CI {row['ci95'][0]:.2%}-{row['ci95'][1]:.2%} on these weights")
    for flag in record["flags"]:
        console.print(f"[yellow]warning[/yellow] [{flag['code']}] {flag['message']}")
    console.print(f"record: {out_dir / 'result.json'}  ({record['timings']['total_seconds']:.1f} s)")


@click.command("transfer")
@click.argument("models", nargs=-1, required=True)
@dataset_option
@click.option("--attack", default="pgd20", show_default=True, help="Attack crafted on each source.")
@click.option("--eps", default=None, help="Perturbation budget, e.g. 8/255.")
@click.option("--n-examples", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for transfer.json, transfer.png and the cached adversarial examples.")
@click.option("--json", "as_json", is_flag=True)
@speed_options
@device_option
@data_dir_option
def transfer_cmd(models, dataset, attack, eps, n_examples, batch_size, seed, out, as_json, compile_model,
                 channels_last, amp, device, data_dir):
    """Transfer matrix: examples crafted on each of MODELS, evaluated on every one of them."""
    if len(models) < 2:
        raise RobenchError("a transfer matrix needs at least two models", hint="robench transfer A B [C …]")
    from robench.evaluate.transfer import transfer_matrix
    from robench.leaderboard.plots import transfer_heatmap

    out_dir = Path(out) if out else Path("runs") / "transfer" / re.sub(r"[^A-Za-z0-9_.-]+", "-", "+".join(models))
    result = transfer_matrix(list(models), dataset=dataset, attacks=attack, n_examples=n_examples,
                             batch_size=batch_size, seed=seed, eps=eps, speed=_speed(compile_model, channels_last, amp),
                             data_dir=data_dir, device=device, out=out_dir)
    transfer_heatmap(result.record, out_dir / "transfer.png")
    if as_json:
        click.echo(json.dumps(result.record, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"transfer accuracy, {attack} (rows: source, columns: target)")
    table.add_column("source \\ target")
    for name in models:
        table.add_column(name, justify="right")
    for name, row in zip(models, result.matrix):
        table.add_row(name, *[f"{v:.2%}" for v in row])
    Console().print(table)
    click.echo(f"record: {out_dir / 'transfer.json'}, heat-map: {out_dir / 'transfer.png'}")
