"""RobNet's FSP distance per cell (Guo et al., CVPR 2020, section 3.3): how far each cell's flow matrix between
its input and output moves when a test image is replaced by its adversarial example,
``L_l = (1/N) sum_x ||G_l(x) - G_l(x_adv)||^2`` (robench.zoo.fsp, which the RobNet search's filter uses too).

RobNet finds the distance of the deep cells to follow the gap between clean and adversarial accuracy, so the
record holds both accuracies on the same images. Each batch of test images is one unit of work.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from robench.analyze.results import AnalysisResult, AnalysisRun, ProgressFn, Subject
from robench.leaderboard.plots import new_figure, plot_style
from robench.zoo.fsp import flow_units, fsp_distances, unit_input

NAME = "fsp"


@torch.no_grad()
def unit_shapes(model: nn.Module, x: torch.Tensor) -> list[dict]:
    """Each unit's name and the (channels, height, width) of its input and output feature maps."""
    units = flow_units(model)
    shapes: dict[int, dict] = {}

    def hook(i: int, name: str):
        return lambda module, inputs, out: shapes.__setitem__(
            i, {"name": name, "input": list(unit_input(inputs).shape[1:]), "output": list(out.shape[1:])})

    handles = [module.register_forward_hook(hook(i, name)) for i, (name, module) in enumerate(units)]
    try:
        model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    return [{**shapes[i], "reduces": shapes[i]["output"][1:] != shapes[i]["input"][1:]} for i in range(len(units))]


def fsp(
    model: nn.Module | str,
    dataset: str = "cifar10",
    attack: str = "pgd20",
    n_examples: int | None = 64,
    batch_size: int = 16,
    data_dir: str | Path | None = None,
    seed: int = 0,
    *,
    eps: str | float | None = None,
    device: str | torch.device | None = None,
    out: str | Path | None = None,
    model_name: str | None = None,
    progress: ProgressFn | None = None,
) -> AnalysisResult:
    """The FSP distance between clean and adversarial (``attack``) inputs of every cell or residual block of
    ``model``, over ``n_examples`` test images; with ``out``, resumable and written there."""
    subject = Subject.prepare(model, dataset=dataset, attack=attack, n_examples=n_examples, batch_size=batch_size,
                              seed=seed, eps=eps, device=device, data_dir=data_dir, model_name=model_name)
    run = AnalysisRun(out, NAME, subject.config(NAME, {}), progress)
    started = time.perf_counter()
    with run.open():
        finished = run.finished(draw_fsp)
        if finished is not None:
            return finished
        batches = subject.batches()
        units = unit_shapes(subject.model, subject.images(batches[0])[0])
        done = []
        for number, positions in enumerate(batches):
            def compute(positions=positions) -> dict:
                x, y = subject.images(positions)
                x_adv = subject.adversarial(x, y)
                with torch.no_grad():
                    clean, adversarial = subject.model(x).argmax(1) == y, subject.model(x_adv).argmax(1) == y
                return {"distance": fsp_distances(subject.model, x, x_adv).tolist(),
                        "clean_correct": clean.tolist(), "adversarial_correct": adversarial.tolist()}

            done.append(run.unit(0, number, compute))
            run.report(NAME, number + 1, len(batches))
        distances = torch.cat([torch.tensor(u["distance"], dtype=torch.float64) for u in done], dim=1)  # [units, N]
        clean = sum(c for u in done for c in u["clean_correct"]) / len(subject.indices)
        adversarial = sum(c for u in done for c in u["adversarial_correct"]) / len(subject.indices)
        for unit, row in zip(units, distances):
            unit.update(mean=float(row.mean()), std=float(row.std()) if len(row) > 1 else 0.0,
                        median=float(row.median()))
        last_reduction = max((i for i, u in enumerate(units) if u["reduces"]), default=-1)
        deep = distances[last_reduction + 1:] if last_reduction + 1 < len(units) else distances[-1:]
        results = {"units": units, "indices": subject.indices.tolist(), "per_image_distance": distances.tolist(),
                   "clean_accuracy": clean, "adversarial_accuracy": adversarial}  # fmt: skip
        summary = {"mean": float(distances.mean()), "deep_mean": float(deep.mean()),
                   "deep_units": [u["name"] for u in units[len(units) - len(deep):]],
                   "clean_accuracy": clean, "adversarial_accuracy": adversarial, "n_images": len(subject.indices)}
        return run.finish(subject, results, summary, started, draw_fsp)


def draw_fsp(record: dict):
    """The mean FSP distance of every unit in order, units that change the resolution marked."""
    units, summary = record["results"]["units"], record["summary"]
    with plot_style():
        from matplotlib.patches import Patch

        figure = new_figure(max(6.5, 1.5 + 0.3 * len(units)), 4.0)
        ax = figure.add_subplot()
        colours = ["C3" if u["reduces"] else "C0" for u in units]
        ax.bar(range(len(units)), [u["mean"] for u in units], color=colours,
               yerr=[u["std"] for u in units], error_kw={"lw": 0.6, "capsize": 2})
        ax.set_yscale("log")
        ax.set_xticks(range(len(units)), [u["name"] for u in units], rotation=60, ha="right", fontsize=6)
        ax.set_ylabel("FSP distance ||G(x) - G(x_adv)||² (mean ± std)")
        ax.grid(True, axis="y", lw=0.3, alpha=0.5)
        ax.legend(handles=[Patch(color="C0", label="keeps the resolution"),
                           Patch(color="C3", label="reduces the resolution")], frameon=False)
        ax.set_title(f"{record['model']['name']}: FSP distance per cell, clean vs {record['attack']['name']}\n"
                     f"{summary['n_images']} {record['dataset']['name']} images: clean accuracy "
                     f"{100 * summary['clean_accuracy']:.1f}%, adversarial {100 * summary['adversarial_accuracy']:.1f}%")
    return figure
