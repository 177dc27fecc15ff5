"""The curvature of the loss (AdvRush, Mok et al., ICCV 2021, section 3.1): the top eigenvalue of the Hessian of
the cross-entropy loss with respect to each test image, and with respect to the weights on a batch of training
images, by power iteration on Hessian-vector products (forward-over-reverse: ``torch.func.jvp`` of
``torch.func.grad``), every iterate recorded so that the convergence shows.

The model runs in eval mode throughout: batch norm uses its running statistics, so the images of a batch do not
interact, the summed loss of a batch has a block-diagonal input Hessian, and one product gives every image's
own ``H_i v_i`` (one power iteration per image, run side by side). Power iteration finds the eigenvalue of
largest magnitude; the reported value is its Rayleigh quotient ``v^T H v``, with its sign. Each batch of test
images, and the weight Hessian, is one unit of work, logged as soon as it is computed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp

from robench.analyze.results import AnalysisResult, AnalysisRun, ProgressFn, Subject
from robench.data import load_split, select_subset
from robench.data.loader import derive_seed
from robench.errors import RobenchError
from robench.leaderboard.plots import new_figure, plot_style

NAME = "curvature"
WEIGHTS_STAGE = 1  # the unit of the weight Hessian, after the test-image batches (stage 0)


@dataclass(frozen=True)
class CurvatureSettings:
    """At most ``iterations`` power iterations, stopped once every estimate moved by at most ``tol`` of itself;
    the weight Hessian on ``n_train`` training images (0: not computed)."""

    iterations: int = 20
    tol: float = 1e-3
    n_train: int = 32

    def __post_init__(self) -> None:
        if not (isinstance(self.iterations, int) and self.iterations >= 2):
            raise RobenchError(f"iterations must be a whole number of at least 2, not {self.iterations!r}",
                               hint="e.g. --iterations 20")
        if not (math.isfinite(self.tol) and self.tol > 0):
            raise RobenchError(f"tol must be a positive number, not {self.tol!r}", hint="e.g. --tol 1e-3")
        if not (isinstance(self.n_train, int) and self.n_train >= 0):
            raise RobenchError(f"n_train must be a whole number, not {self.n_train!r}",
                               hint="0 skips the weight Hessian")


@dataclass
class PowerIteration:
    """The outcome of power iteration on ``k`` Hessians at once: the estimate after each iteration ([T][k]),
    the final estimates, and whether each had converged."""

    trace: list[list[float]]
    converged: list[bool]

    @property
    def eigenvalues(self) -> list[float]:
        return self.trace[-1]


def power_iteration(hvp: Callable[[Any], Any], v: Any, dot: Callable[[Any, Any], torch.Tensor],
                    scale: Callable[[Any, torch.Tensor], Any], iterations: int, tol: float) -> PowerIteration:  # fmt: skip
    """Power iteration on ``k`` symmetric operators at once. ``dot(a, b)`` gives the ``k`` inner products and
    ``scale(a, s)`` multiplies each of the ``k`` parts of ``a`` by its entry of ``s``; a part whose product
    vanishes keeps its vector (its eigenvalue is 0)."""
    v = scale(v, dot(v, v).rsqrt())
    trace: list[list[float]] = []
    previous = None
    settled = None
    for _ in range(iterations):
        hv = hvp(v)
        estimate = dot(v, hv)
        trace.append(estimate.tolist())
        norm = dot(hv, hv).sqrt()
        vanished = norm == 0
        v = _add(scale(hv, torch.where(vanished, 0.0, 1 / norm)), scale(v, vanished.to(norm.dtype)))
        if previous is not None:
            settled = (estimate - previous).abs() <= tol * estimate.abs()
            if bool(settled.all()):
                break
        previous = estimate
    converged = [False] * len(trace[-1]) if settled is None else settled.tolist()
    return PowerIteration(trace, converged)


def _add(a, b):
    return {k: a[k] + b[k] for k in a} if isinstance(a, dict) else a + b


def _batch_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1)


def _batch_scale(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return a * s.view(-1, *([1] * (a.dim() - 1)))


def _dict_dot(a: dict, b: dict) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a).reshape(1)


def _dict_scale(a: dict, s: torch.Tensor) -> dict:
    return {k: t * s[0] for k, t in a.items()}


def input_eigenvalues(model: nn.Module, x: torch.Tensor, y: torch.Tensor, v0: torch.Tensor, iterations: int = 20,
                      tol: float = 1e-3) -> PowerIteration:  # fmt: skip
    """Each image's top eigenvalue of the Hessian of its cross-entropy loss with respect to the image."""
    def loss(inputs: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(inputs), y, reduction="sum")

    gradient = grad(loss)
    return power_iteration(lambda v: jvp(gradient, (x,), (v,))[1], v0, _batch_dot, _batch_scale, iterations, tol)


def weight_eigenvalue(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
                      iterations: int = 20, tol: float = 1e-3) -> PowerIteration:  # fmt: skip
    """The top eigenvalue of the Hessian of the batch's mean cross-entropy loss with respect to the weights."""
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def loss(weights: dict) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, (weights, buffers), (x,)), y)

    gradient = grad(loss)
    v0 = {name: torch.randn(p.shape, generator=generator).to(p) for name, p in params.items()}
    return power_iteration(lambda v: jvp(gradient, (params,), (v,))[1], v0, _dict_dot, _dict_scale, iterations, tol)


def start_vectors(shape: torch.Size, indices: torch.Tensor, seed: int) -> torch.Tensor:
    """Each image's starting vector, drawn from ``(seed, index)`` alone."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(derive_seed(seed, NAME, int(i))))
                        for i in indices])  # fmt: skip


def curvature(
    model: nn.Module | str,
    dataset: str = "cifar10",
    n_examples: int | None = 32,
    batch_size: int = 8,
    data_dir: str | Path | None = None,
    seed: int = 0,
    *,
    iterations: int = 20,
    tol: float = 1e-3,
    n_train: int = 32,
    device: str | torch.device | None = None,
    out: str | Path | None = None,
    model_name: str | None = None,
    progress: ProgressFn | None = None,
) -> AnalysisResult:
    """Top Hessian eigenvalues of ``model``'s loss: per test image (input Hessian) and on ``n_train`` training
    images (weight Hessian); with ``out``, resumable and written there."""
    settings = CurvatureSettings(iterations, tol, n_train)
    subject = Subject.prepare(model, dataset=dataset, attack=None, n_examples=n_examples, batch_size=batch_size,
                              seed=seed, eps=None, device=device, data_dir=data_dir, model_name=model_name)
    train = load_split(subject.protocol.spec.name, "train", data_dir) if n_train else None
    train_indices = select_subset(len(train.labels), n_train, seed) if train is not None else None
    config = subject.config(NAME, asdict(settings))
    if train is not None:
        config["train_data"] = {"data_sha256": train.sha256, "indices": train_indices.tolist()}
    run = AnalysisRun(out, NAME, config, progress)
    started = time.perf_counter()
    with run.open():
        finished = run.finished(draw_curvature)
        if finished is not None:
            return finished
        batches = subject.batches()
        units = []
        for number, positions in enumerate(batches):
            def compute(positions=positions) -> dict:
                x, y = subject.images(positions)
                v0 = start_vectors(x.shape[1:], subject.indices[positions], seed).to(subject.device)
                found = input_eigenvalues(subject.model, x, y, v0, iterations, tol)
                return {"trace": found.trace, "converged": found.converged}

            units.append(run.unit(0, number, compute))
            run.report("input Hessian", number + 1, len(batches))
        input_trace = [[step[i] for step in unit["trace"]] for unit in units for i in range(len(unit["trace"][0]))]
        converged = [c for unit in units for c in unit["converged"]]
        eigenvalues = [trace[-1] for trace in input_trace]
        results = {"input": {"indices": subject.indices.tolist(), "eigenvalues": eigenvalues, "trace": input_trace,
                             "converged": converged}}  # fmt: skip
        values = torch.tensor(eigenvalues, dtype=torch.float64)
        summary = {"input_mean": float(values.mean()), "input_median": float(values.median()),
                   "input_max": float(values.max()), "input_converged": sum(converged), "n_images": len(values)}
        if train is not None:
            def compute_weights() -> dict:
                x = train.images[train_indices].to(subject.device).float().div_(255)
                y = train.labels[train_indices].to(subject.device)
                generator = torch.Generator().manual_seed(derive_seed(seed, NAME, "weights"))
                found = weight_eigenvalue(subject.model, x, y, generator, iterations, tol)
                return {"trace": [step[0] for step in found.trace], "converged": found.converged[0]}

            weights = run.unit(WEIGHTS_STAGE, 0, compute_weights)
            run.report("weight Hessian", 1, 1)
            results["weights"] = {"eigenvalue": weights["trace"][-1], "trace": weights["trace"],
                                  "converged": weights["converged"], "n_train": n_train}  # fmt: skip
            summary["weights"] = weights["trace"][-1]
        return run.finish(subject, results, summary, started, draw_curvature)


def _relative_steps(trace: list[float]) -> list[float]:
    """How far each estimate moved from the one before, relative to itself (what the stopping rule tests); NaN
    where it did not move at all, which a log scale cannot show."""
    return [abs(b - a) / abs(b) if b and a != b else math.nan for a, b in zip(trace, trace[1:])]


def draw_curvature(record: dict):
    """How the estimates converged (each image's relative step against the tolerance), the distribution of the
    images' top eigenvalues, and the weight Hessian's estimates."""
    results = record["results"]
    weights = results.get("weights")
    with plot_style():
        figure = new_figure(10.5 if weights else 7.5, 3.6)
        columns = 3 if weights else 2
        steps = figure.add_subplot(1, columns, 1)
        for trace in results["input"]["trace"]:
            steps.plot(range(2, len(trace) + 1), _relative_steps(trace), color="C0", lw=0.6, alpha=0.5)
        steps.axhline(record["settings"]["tol"], color="C1", ls="--", lw=0.8, label=f"tol {record['settings']['tol']:g}")
        steps.set_yscale("log")
        steps.set_xlabel("power iteration")
        steps.set_ylabel("|estimate - previous| / |estimate|")
        steps.set_title(f"input Hessian: convergence ({record['summary']['input_converged']} of "
                        f"{record['summary']['n_images']} converged)")
        steps.legend(frameon=False)
        steps.grid(True, lw=0.3, alpha=0.5)
        spread = figure.add_subplot(1, columns, 2)
        spread.hist(results["input"]["eigenvalues"], bins=min(20, max(5, len(results["input"]["eigenvalues"]) // 2)))
        spread.axvline(record["summary"]["input_mean"], color="C1", label=f"mean {record['summary']['input_mean']:.4g}")
        spread.set_xlabel("top eigenvalue of the input Hessian")
        spread.set_ylabel("images")
        spread.legend(frameon=False)
        if weights:
            w = figure.add_subplot(1, columns, 3)
            w.plot(range(1, len(weights["trace"]) + 1), weights["trace"], marker="o", ms=3)
            w.set_xlabel("power iteration")
            w.set_ylabel("estimate")
            w.set_title(f"weight Hessian ({weights['n_train']} training images): {weights['eigenvalue']:.4g}")
            w.grid(True, lw=0.3, alpha=0.5)
        figure.suptitle(f"{record['model']['name']}: top Hessian eigenvalues of the cross-entropy loss, "
                        f"{record['summary']['n_images']} {record['dataset']['name']} {record['dataset']['split']} "
                        "images")  # fmt: skip
    return figure
