"""``robench analyze``: the seed papers' analyses of one model (landscape, curvature, fsp) or of the leaderboard
(density, tradeoff), each written as JSON + PNG; parse, call robench.analyze, print the summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from robench.cli.evaluate import model_source
from robench.cli.options import data_dir_option, dataset_option, device_option, progress_bar


@click.group("analyze")
def analyze() -> None:
    """The seed papers' analyses, each written as <analysis>.json and <analysis>.png.

    \b
    Of a model (a zoo name, hf-hub:org/name, local-dir:PATH, a checkpoint directory or file), resumable:
      landscape   input loss surface along the adversarial and a random direction (AdvRush, Figure 3)
      curvature   top eigenvalue of the input and weight Hessians by power iteration (AdvRush, section 3)
      fsp         RobNet's FSP distance per cell between clean and adversarial inputs
    Of the leaderboard's records or a RobNet search's candidates:
      density     RobNet's architecture density against robust accuracy, with the correlation
      tradeoff    clean / robust accuracy and HRS against parameters (Devaguptapu et al., Figures 1 and 4)

    \b
    Examples:
      robench analyze landscape advrush_small --out leaderboard/analyses/advrush_small
      robench analyze density --search runs/search/robnet
      robench analyze tradeoff
    """


def _model_options(n_examples: int, batch_size: int):
    def decorate(fn):
        for option in reversed([
            click.argument("model"),
            dataset_option,
            click.option("--n-examples", type=int, default=n_examples, show_default=True,
                         help="Analyse a deterministic subset of N test images."),
            click.option("--batch-size", type=int, default=batch_size, show_default=True,
                         help="Images per unit of work (each unit is logged as it finishes)."),
            click.option("--seed", type=int, default=0, show_default=True,
                         help="Chooses the images, the attack's random start and the random directions."),
            click.option("--arch", default=None, help="Architecture of MODEL when MODEL is an original checkpoint file."),
            click.option("--out", type=click.Path(file_okay=False), default=None,
                         help="Output directory (default: runs/analyze/MODEL); rerun to resume. The leaderboard "
                              "links the analyses in leaderboard/analyses/MODEL."),
            click.option("--json", "as_json", is_flag=True, help="Print the analysis record as JSON."),
            device_option,
            data_dir_option,
            click.pass_context,
        ]):
            fn = option(fn)
        return fn

    return decorate


def _model(model: str, arch: str | None, dataset: str, device: str | None):
    """What robench.analyze takes: a source string, or the module of an original checkpoint file."""
    source, checkpoint = model_source(model, arch)
    if checkpoint is None:
        return source
    from robench import zoo

    return zoo.load(source, dataset=dataset, checkpoint=checkpoint, device=device)


def _out(out: str | None, model: str) -> Path:
    return Path(out) if out else Path("runs") / "analyze" / re.sub(r"[^A-Za-z0-9_.-]+", "-", model)


def _run(ctx, as_json: bool, call, describe) -> None:
    quiet = (ctx.find_root().obj or {}).get("quiet", False) or as_json
    bar, report = progress_bar(quiet)
    with bar:
        try:
            result = call(report)
        except RuntimeError as err:
            # Ctrl-C inside torch.func's autograd arrives wrapped in a RuntimeError; it is still an interruption
            if "KeyboardInterrupt" in str(err):
                raise KeyboardInterrupt from None
            raise
    if as_json:
        click.echo(json.dumps(result.record, indent=2, sort_keys=True))
        return
    click.echo(describe(result.record))
    if result.directory is not None:
        click.echo(f"wrote {result.json_path} and {result.png_path}")


@analyze.command("landscape")
@_model_options(n_examples=32, batch_size=8)
@click.option("--attack", default="fgsm", show_default=True, help="Attack giving the adversarial direction.")
@click.option("--eps", default=None, help="Perturbation budget of the attack, e.g. 8/255 (default: the threat model's).")
@click.option("--span", type=float, default=2.0, show_default=True,
              help="The grid covers [-SPAN, SPAN] in units of the attack's perturbation.")
@click.option("--steps", type=int, default=21, show_default=True, help="Grid points per axis (odd).")
def landscape_cmd(ctx, model, dataset, n_examples, batch_size, seed, arch, out, as_json, device, data_dir, attack,
                  eps, span, steps):  # fmt: skip
    """Input loss landscape of MODEL along the adversarial and a random direction, averaged over the images."""
    from robench.analyze import landscape

    loaded = _model(model, arch, dataset, device)
    _run(ctx, as_json, lambda report: landscape(
        loaded, dataset, attack, n_examples, batch_size, data_dir, seed, span=span, steps=steps, eps=eps,
        device=device, out=_out(out, model), model_name=model, progress=report),
         lambda r: f"{r['model']['name']}: mean loss {r['summary']['loss_at_images']:.4g} at the images, "
                   f"{r['summary']['max_mean_loss']:.4g} at most over the grid ({r['summary']['n_images']} images)")


@analyze.command("curvature")
@_model_options(n_examples=32, batch_size=8)
@click.option("--iterations", type=int, default=20, show_default=True, help="Most power iterations.")
@click.option("--tol", type=float, default=1e-3, show_default=True,
              help="Stop once every estimate moved by at most this fraction of itself.")
@click.option("--n-train", type=int, default=32, show_default=True,
              help="Training images for the weight Hessian (0: skip it).")
def curvature_cmd(ctx, model, dataset, n_examples, batch_size, seed, arch, out, as_json, device, data_dir,
                  iterations, tol, n_train):  # fmt: skip
    """Top eigenvalue of the Hessian of the loss w.r.t. each test image, and w.r.t. the weights."""
    from robench.analyze import curvature

    def describe(r: dict) -> str:
        s = r["summary"]
        text = (f"{r['model']['name']}: input Hessian top eigenvalue mean {s['input_mean']:.4g}, median "
                f"{s['input_median']:.4g}, max {s['input_max']:.4g} ({s['input_converged']} of {s['n_images']} "
                "images converged)")
        return text + (f"; weight Hessian {s['weights']:.4g}" if "weights" in s else "")

    loaded = _model(model, arch, dataset, device)
    _run(ctx, as_json, lambda report: curvature(
        loaded, dataset, n_examples, batch_size, data_dir, seed, iterations=iterations, tol=tol, n_train=n_train,
        device=device, out=_out(out, model), model_name=model, progress=report), describe)


@analyze.command("fsp")
@_model_options(n_examples=64, batch_size=16)
@click.option("--attack", default="pgd20", show_default=True, help="Attack giving the adversarial inputs.")
@click.option("--eps", default=None, help="Perturbation budget of the attack, e.g. 8/255 (default: the threat model's).")
def fsp_cmd(ctx, model, dataset, n_examples, batch_size, seed, arch, out, as_json, device, data_dir, attack, eps):
    """RobNet's FSP distance between clean and adversarial inputs, per cell (or residual block) of MODEL."""
    from robench.analyze import fsp

    loaded = _model(model, arch, dataset, device)
    _run(ctx, as_json, lambda report: fsp(
        loaded, dataset, attack, n_examples, batch_size, data_dir, seed, eps=eps, device=device,
        out=_out(out, model), model_name=model, progress=report),
         lambda r: f"{r['model']['name']}: FSP distance {r['summary']['mean']:.4g} over all cells, "
                   f"{r['summary']['deep_mean']:.4g} over the deep ones ({', '.join(r['summary']['deep_units'])})")


def _records(records: str | None) -> Path:
    if records:
        return Path(records)
    from robench.cli.leaderboard import find_leaderboard

    return find_leaderboard() / "records"


_records_option = click.option("--records", type=click.Path(file_okay=False), default=None,
                               help="Records folder (default: the repository's leaderboard/records).")
_threat_option = click.option("--threat", default=None,
                              help="Table's threat model key, e.g. linf-8-255 (default: the data set's standard one).")
_board_out_option = click.option("--out", type=click.Path(file_okay=False), default="runs/analyze/leaderboard",
                                 show_default=True, help="Output directory.")


def _correlation_text(source: str, c: dict) -> str:
    if c["pearson_r"] is None:
        return f"{source}: n={c['n']}, correlation undefined"
    return f"{source}: n={c['n']}, Pearson r={c['pearson_r']:.3f} (p={c['pearson_p']:.3g}), " \
           f"Spearman rho={c['spearman_rho']:.3f} (p={c['spearman_p']:.3g})"


@analyze.command("density")
@_records_option
@click.option("--search", "searches", multiple=True, type=click.Path(),
              help="A RobNet search run (its directory or result.json) whose candidates to add; repeatable.")
@dataset_option
@_threat_option
@_board_out_option
@click.option("--json", "as_json", is_flag=True, help="Print the analysis record as JSON.")
@click.pass_context
def density_cmd(ctx, records, searches, dataset, threat, out, as_json):
    """Architecture density of RobNet genotypes against robust accuracy: the leaderboard's rows (the default when
    no --search is given) and search candidates."""
    from robench.analyze import density

    records_dir = _records(records) if records or not searches else None
    _run(ctx, as_json, lambda report: density(records_dir, searches, dataset, threat, out),
         lambda r: "\n".join(_correlation_text(s, c) for s, c in r["summary"]["correlation"].items()))


@analyze.command("tradeoff")
@_records_option
@dataset_option
@_threat_option
@_board_out_option
@click.option("--json", "as_json", is_flag=True, help="Print the analysis record as JSON.")
@click.pass_context
def tradeoff_cmd(ctx, records, dataset, threat, out, as_json):
    """Clean accuracy, robust accuracy and HRS against parameter count over a leaderboard table."""
    from robench.analyze import tradeoff

    def describe(r: dict) -> str:
        lines = [f"{r['summary']['n_points']} rows with a parameter count"]
        for kind, metrics in r["summary"]["correlation_with_log_params"].items():
            lines += [_correlation_text(f"{kind} {metric} vs log params", c) for metric, c in metrics.items()]
        return "\n".join(lines)

    _run(ctx, as_json, lambda report: tradeoff(_records(records), dataset, threat, out), describe)
