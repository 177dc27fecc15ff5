"""The input loss landscape (AdvRush, Mok et al., ICCV 2021, Figure 3, drawn as Moosavi-Dezfooli et al., CVPR
2019, draw it): the cross-entropy loss around test images along an adversarial and a random direction, averaged
over the images.

For an image x with adversarial example x_adv (an attack of the registry; FGSM, the gradient-sign direction, by
default) the adversarial direction is d = x_adv - x, and the random direction r is a random sign vector made
orthogonal to d and scaled to ||d||_2. The loss is taken at x + a d + b r for a and b on a grid of ``steps``
points in [-span, span], so (0, 0) is the image and (1, 0) the attack's own point. The points are not clipped
to the image cube: the surface is that of the model's function around x. Each grid row of a batch of images is
one unit of work, logged as soon as it is computed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from robench.analyze.results import AnalysisResult, AnalysisRun, ProgressFn, Subject
from robench.data.loader import derive_seed
from robench.errors import RobenchError
from robench.leaderboard.plots import new_figure, plot_style

NAME = "landscape"


@dataclass(frozen=True)
class LandscapeSettings:
    """The grid: ``steps`` points per axis (odd, so that the image itself is on it) in [-span, span], in units
    of the attack's perturbation."""

    span: float = 2.0
    steps: int = 21

    def __post_init__(self) -> None:
        if not (isinstance(self.steps, int) and self.steps >= 3 and self.steps % 2 == 1):
            raise RobenchError(f"steps must be an odd whole number of at least 3, not {self.steps!r}",
                               hint="an odd count puts the image itself on the grid, e.g. --steps 21")
        if not (math.isfinite(self.span) and self.span > 0):
            raise RobenchError(f"span must be a positive number, not {self.span!r}",
                               hint="span is in units of the attack's perturbation, e.g. --span 2")

    @property
    def coords(self) -> list[float]:
        return torch.linspace(-self.span, self.span, self.steps, dtype=torch.float64).tolist()


def random_direction(d: torch.Tensor, seed: int, index: int) -> torch.Tensor:
    """Image ``index``'s random direction for the adversarial direction ``d``: a sign vector drawn from ``(seed,
    index)`` alone (so it does not depend on the batch or the device), minus its component along ``d``, scaled
    to ``||d||_2``."""
    generator = torch.Generator().manual_seed(derive_seed(seed, NAME, index))
    r = (torch.randint(0, 2, d.shape, generator=generator) * 2 - 1).to(d.device, d.dtype)
    norm = d.norm()
    if norm == 0:
        return torch.zeros_like(d)
    r = r - (r * d).sum() / norm**2 * d
    return r * (norm / r.norm())


@torch.no_grad()
def loss_row(model: nn.Module, x: torch.Tensor, y: torch.Tensor, d: torch.Tensor, r: torch.Tensor, a: float,
             coords: list[float]) -> torch.Tensor:  # fmt: skip
    """Per-image loss at ``x + a d + b r`` for every ``b`` in ``coords``: [B, len(coords)]."""
    b = torch.tensor(coords, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1, 1)
    points = (x + a * d).unsqueeze(0) + b * r.unsqueeze(0)  # [steps, B, C, H, W]
    logits = model(points.flatten(0, 1))
    loss = F.cross_entropy(logits, y.repeat(len(coords)), reduction="none")
    return loss.view(len(coords), len(x)).T


def landscape(
    model: nn.Module | str,
    dataset: str = "cifar10",
    attack: str = "fgsm",
    n_examples: int | None = 32,
    batch_size: int = 8,
    data_dir: str | Path | None = None,
    seed: int = 0,
    *,
    span: float = 2.0,
    steps: int = 21,
    eps: str | float | None = None,
    device: str | torch.device | None = None,
    out: str | Path | None = None,
    model_name: str | None = None,
    progress: ProgressFn | None = None,
) -> AnalysisResult:
    """The input loss landscape of ``model`` (a module taking [0, 1] inputs, or a zoo / ``hf-hub:`` /
    ``local-dir:`` source) around ``n_examples`` test images; with ``out``, resumable and written there."""
    settings = LandscapeSettings(span, steps)
    subject = Subject.prepare(model, dataset=dataset, attack=attack, n_examples=n_examples, batch_size=batch_size,
                              seed=seed, eps=eps, device=device, data_dir=data_dir, model_name=model_name)
    run = AnalysisRun(out, NAME, subject.config(NAME, asdict(settings)), progress)
    started = time.perf_counter()
    with run.open():
        finished = run.finished(draw_landscape)
        if finished is not None:
            return finished
        coords = settings.coords
        batches = subject.batches()
        grids, excluded, indices = [], [], []
        for number, positions in enumerate(batches):
            directions: list[torch.Tensor] = []

            def row(k: int, x, y) -> dict:
                if not directions:  # the attack runs only if a row of this batch is still to do
                    d = subject.adversarial(x, y) - x
                    directions.extend([d, torch.stack([random_direction(d[i], seed, int(j)) for i, j in
                                                       enumerate(subject.indices[positions])])])
                return {"loss": loss_row(subject.model, x, y, *directions, coords[k], coords).tolist()}

            x, y = subject.images(positions)
            rows = [run.unit(number, k, lambda k=k: row(k, x, y)) for k in range(steps)]
            grid = torch.tensor([r["loss"] for r in rows], dtype=torch.float64).permute(1, 0, 2)  # [B, a, b]
            flat = grid.flatten(1)
            still = (flat == flat[:, :1]).all(1)  # a zero adversarial direction leaves the loss flat
            for i, j in enumerate(subject.indices[positions].tolist()):
                (excluded if still[i] else indices).append(j)
            grids.append(grid[~still])
            run.report(NAME, number + 1, len(batches))
        per_image = torch.cat(grids)
        if not len(per_image):
            raise RobenchError("the attack left every analysed image where it was, so there is no adversarial "
                               "direction to draw the landscape along",
                               hint="try another attack (--attack pgd20) or more images")  # fmt: skip
        mean = per_image.mean(0)
        centre = steps // 2
        results = {"coords": coords, "mean_loss": _float32(mean.tolist()), "indices": indices,
                   "per_image_loss": _float32(per_image.tolist()), "excluded": excluded}  # fmt: skip
        summary = {"n_images": len(indices), "loss_at_images": float(mean[centre, centre]),
                   "max_mean_loss": float(mean.max()),
                   "mean_loss_along_adversarial": mean[:, centre].tolist(),
                   "mean_loss_along_random": mean[centre, :].tolist()}  # fmt: skip
        return run.finish(subject, results, summary, started, draw_landscape)


def _float32(values: list | float) -> list | float:
    """Nested lists of numbers to the precision of the float32 losses they come from (9 significant digits
    round-trip a float32), not the 17 digits of a double."""
    return [_float32(v) for v in values] if isinstance(values, list) else float(f"{values:.9g}")


def draw_landscape(record: dict):
    """The mean surface in 3D (as AdvRush draws it) and its two axis profiles."""
    results, attack = record["results"], record["attack"]["name"]
    coords = torch.tensor(results["coords"])
    mean = torch.tensor(results["mean_loss"])
    a, b = torch.meshgrid(coords, coords, indexing="ij")
    centre = len(coords) // 2
    with plot_style():
        figure = new_figure(9.0, 4.0)
        surface = figure.add_subplot(1, 2, 1, projection="3d")
        surface.plot_surface(a.numpy(), b.numpy(), mean.numpy(), cmap="viridis", linewidth=0, antialiased=False)
        surface.set_xlabel(f"adversarial ({attack}) direction")
        surface.set_ylabel("random direction")
        surface.set_zlabel("cross-entropy loss")
        profile = figure.add_subplot(1, 2, 2)
        profile.plot(coords, mean[:, centre], label=f"along the {attack} direction")
        profile.plot(coords, mean[centre, :], label="along the random direction")
        profile.axvline(1.0, color="grey", lw=0.5, ls=":")
        profile.set_xlabel(f"step, in units of the {attack} perturbation")
        profile.set_ylabel("mean cross-entropy loss")
        profile.legend(frameon=False)
        profile.grid(True, lw=0.3, alpha=0.5)
        eps = record["threat_model"].get("eps_text") or f"{record['threat_model']['eps']:g}"
        figure.suptitle(f"{record['model']['name']}: input loss landscape, {record['summary']['n_images']} "
                        f"{record['dataset']['name']} {record['dataset']['split']} images "
                        f"({record['threat_model']['norm']} eps {eps})")  # fmt: skip
    return figure
