"""Differentiable robust architecture searches over the DARTS space: AdvRush and ARNAS.

Both alternate, on every step, one architecture update (Adam on the alphas, from an "architecture" batch) and
one weight update (SGD with a cosine schedule on a "weight" batch) of a :class:`CellSupernet`, and end with the
genotype the alphas select. :class:`DifferentiableSearch` is that loop, resumable to the step; each method
overrides :meth:`~DifferentiableSearch.architecture_gradient` (and, for ARNAS, the inputs of the weight step):

- AdvRush (Mok et al., ICCV 2021; nutellamok/advrush): clean cross-entropy on both updates, first order; after
  ``warmup_epochs`` the alpha loss adds ``gamma`` times a CURE-style input-curvature penalty.
- ARNAS (Ou et al., CVPR 2024; fyqsama/ARNAS): three cell kinds, weights trained on 7-step PGD examples only,
  alphas from DARTS' second-order (unrolled) gradient of a natural and an adversarial objective, combined by
  the two-task MGDA min-norm rule.

The presets hold the released code's settings (SPEC sections 5 and 6); every field can be overridden.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from robench.data import Augment, TensorSplit, TrainLoader, parse_eps
from robench.data.loader import derive_seed
from robench.errors import RobenchError
from robench.perturb import Adversary, perturb
from robench.runstate import capture_rng, restore_rng, seed_everything
from robench.search.base import STATE_FORMAT, Search
from robench.search.run import SearchResult
from robench.search.supernet import CellSupernet
from robench.zoo.registry import DATASETS

ARCH_DATA = ("train", "half")


@dataclass(frozen=True)
class DifferentiableConfig:
    """What every differentiable search shares. ``arch_data="train"``: architecture batches are drawn from the
    whole training split, as the weight batches are (AdvRush); ``"half"``: the split is cut in two fixed halves,
    weights on one and alphas on the other (DARTS, ARNAS)."""

    space: str = "darts"
    epochs: int = 60
    batch_size: int = 32
    C: int = 16
    layers: int = 8
    lr: float = 0.025
    lr_min: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, ...] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    normalize: bool = True
    arch_data: str = "train"
    crop_padding: int = 4
    flip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch_data not in ARCH_DATA:
            raise RobenchError(f"arch_data={self.arch_data!r} is not one of {', '.join(ARCH_DATA)}",
                               hint="arch_data=train (AdvRush) or arch_data=half (ARNAS)")  # fmt: skip
        if self.epochs < 1 or self.batch_size < 1:
            raise RobenchError("epochs and batch_size must be at least 1", hint="e.g. --set epochs=1")

    def lr_at(self, epoch: int) -> float:
        """Cosine annealing from ``lr`` to ``lr_min`` over the epochs, one value per epoch (DARTS' scheduler)."""
        return self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * epoch / self.epochs)) / 2


@dataclass(frozen=True)
class AdvRushConfig(DifferentiableConfig):
    """AdvRush's search (``train_search.py --batch_size 32 --epochs 60 --a_gamma 0.01 --a_warmup_epochs 50``).

    ``curvature_reduction`` decides how the per-sample input gradients of the penalty are scaled: ``"mean"``
    (gradients of the batch-mean loss, 1/B each: what the released code computes from its scalar loss) or
    ``"sum"`` (per-sample gradients; an effective ``gamma`` B times larger). ``released_code_quirks`` reproduces
    two behaviours of the released code: the architecture batch is always the first ``batch_size`` training
    images (re-augmented), and after the penalty the weight step runs with batch norm in eval mode.
    """

    gamma: float = 0.01
    curvature_weight: float = 4.0
    warmup_epochs: int = 50
    h_schedule: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9, 1.2, 1.5)
    curvature_reduction: str = "mean"
    released_code_quirks: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.curvature_reduction not in ("mean", "sum"):
            raise RobenchError(f"curvature_reduction={self.curvature_reduction!r} is not mean or sum",
                               hint="curvature_reduction=mean (the released code) or sum")  # fmt: skip
        if not self.h_schedule:
            raise RobenchError("h_schedule needs at least one value", hint="e.g. h_schedule=0,0.3,0.6,0.9,1.2,1.5")

    def h_at(self, epoch: int) -> float:
        """The finite-difference radius of epoch ``epoch``; the last value holds for all later epochs."""
        return self.h_schedule[min(epoch, len(self.h_schedule) - 1)]


@dataclass(frozen=True)
class ArnasConfig(DifferentiableConfig):
    """ARNAS' search (``ARNAS_search/cnn/train_search.py --unrolled``): C=24, 8 cells, 50 epochs, no input
    normalisation, a 50/50 weight/architecture split. Training examples are 7-step PGD (eps 8/255, step 2/255,
    uniform start, model in train mode, no [0, 1] clipping: cleverhans' defaults there); ``adv_weight`` scales
    the adversarial objective before the min-norm combination. ``unrolled=False`` takes first-order gradients."""

    space: str = "arnas"
    epochs: int = 50
    C: int = 24
    normalize: bool = False
    arch_data: str = "half"
    eps: str = "8/255"
    step_size: str = "2/255"
    steps: int = 7
    adv_weight: float = 0.1
    unrolled: bool = True

    @property
    def adversary(self) -> Adversary:
        return Adversary(parse_eps(self.eps), parse_eps(self.step_size), self.steps, "uniform", "train", clip=False)


class DifferentiableSearch(Search):
    """The alternating alpha / weight loop of a differentiable search, resumable to the step (``save_every``
    steps adds mid-epoch states to the per-epoch ones).

    Subclasses set ``method`` and ``config_type`` and override :meth:`architecture_gradient`; :meth:`weight_inputs`
    (default: the clean batch) may replace the weight step's inputs.
    """

    config_type: ClassVar[type[DifferentiableConfig]]

    def __init__(self, config: DifferentiableConfig | None = None, *, save_every: int | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.save_every = save_every

    # -- the method ---------------------------------------------------------------------------------------------

    def architecture_gradient(self, model: CellSupernet, x: torch.Tensor, y: torch.Tensor, x_arch: torch.Tensor,
                              y_arch: torch.Tensor, lr: float, w_optimizer: torch.optim.Optimizer,
                              epoch: int) -> dict[str, float]:  # fmt: skip
        """Leave the alpha gradient in ``alpha.grad`` for this step; return scalars worth logging.

        ``x, y`` is the weight batch (after :meth:`weight_inputs`), ``x_arch, y_arch`` the architecture batch.
        """
        raise NotImplementedError

    def weight_inputs(self, model: CellSupernet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x

    # -- the loop -----------------------------------------------------------------------------------------------

    def _search(self) -> SearchResult:
        cfg = self.config
        weight_split, arch_split = self._splits()
        seed_everything(cfg.seed)
        model = self._build_model()
        w_opt = torch.optim.SGD(model.weight_parameters(), cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        a_opt = torch.optim.Adam(model.arch_parameters(), cfg.arch_lr, betas=tuple(cfg.arch_betas),
                                 weight_decay=cfg.arch_weight_decay)  # fmt: skip
        augment = Augment(cfg.crop_padding, cfg.flip, 0)
        weight_loader = TrainLoader(weight_split, cfg.batch_size, self.device, augment, derive_seed(cfg.seed, "weights"))
        epoch, step, sums, seconds = 0, 0, {}, 0.0
        state = self.load_state()
        if state is not None:
            model.load_state_dict(state["model"])
            w_opt.load_state_dict(state["w_opt"])
            a_opt.load_state_dict(state["a_opt"])
            restore_rng(state["rng"])
            epoch, step, sums, seconds = state["epoch"], state["step"], state["sums"], state["seconds"]
        self.run_dir.truncate_log(epoch)
        started = time.perf_counter() - seconds

        def save(position_epoch: int, position_step: int) -> None:
            self.run_dir.save_state({
                "format": STATE_FORMAT, "model": model.state_dict(), "w_opt": w_opt.state_dict(),
                "a_opt": a_opt.state_dict(), "rng": capture_rng(), "epoch": position_epoch, "step": position_step,
                "sums": sums, "seconds": time.perf_counter() - started,
            })  # fmt: skip

        steps = len(weight_loader)
        while epoch < cfg.epochs:
            lr = cfg.lr_at(epoch)
            for group in w_opt.param_groups:
                group["lr"] = lr
            weight_loader.set_epoch(epoch)
            batches = zip(weight_loader, self._arch_batches(arch_split, augment, epoch))
            for i, ((x, y), (x_arch, y_arch)) in enumerate(batches):
                if i < step:
                    continue  # replayed: the loaders' draws depend only on the epoch, the RNG state was restored
                self._step(model, w_opt, a_opt, x, y, x_arch, y_arch, lr, epoch, sums)
                step = i + 1
                self.report(f"epoch {epoch + 1}/{cfg.epochs}", step, steps)
                if self.save_every and step % self.save_every == 0 and step < steps:
                    save(epoch, step)
            self.run_dir.log({"epoch": epoch, "lr": lr, **{k: v / steps for k, v in sums.items()},
                              "genotype": model.genotype().to_str()})  # fmt: skip
            epoch, step, sums = epoch + 1, 0, {}
            save(epoch, 0)
        genotype = model.genotype()
        details = {"alphas": {k: a.detach().cpu().tolist() for k, a in model.alphas.items()},
                   "history": self.run_dir.read_log()}  # fmt: skip
        return self.run_dir.finish(genotype, details, time.perf_counter() - started)

    def _step(self, model, w_opt, a_opt, x, y, x_arch, y_arch, lr, epoch, sums) -> None:
        model.train()
        x = self.weight_inputs(model, x, y)
        a_opt.zero_grad(set_to_none=True)
        for name, value in self.architecture_gradient(model, x, y, x_arch, y_arch, lr, w_opt, epoch).items():
            sums[name] = sums.get(name, 0.0) + value
        a_opt.step()
        if not self._weight_step_in_eval_mode(epoch):
            model.train()
        w_opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.weight_parameters(), self.config.grad_clip)
        w_opt.step()
        sums["train_loss"] = sums.get("train_loss", 0.0) + loss.item()
        sums["train_acc"] = sums.get("train_acc", 0.0) + (logits.argmax(1) == y).float().mean().item()

    def _weight_step_in_eval_mode(self, epoch: int) -> bool:
        return False

    def _build_model(self) -> CellSupernet:
        cfg, data = self.config, DATASETS[self.spec.name]
        mean, std = (data.mean, data.std) if cfg.normalize else (None, None)
        return CellSupernet(cfg.space, cfg.C, self.spec.num_classes, cfg.layers, mean, std).to(self.device)

    def _splits(self) -> tuple[TensorSplit, TensorSplit]:
        split = self.training_split()
        if self.config.arch_data == "train":
            return split, split
        half = len(split) // 2
        if half < self.config.batch_size:
            raise RobenchError(f"half of {len(split)} training images is less than one batch of {self.config.batch_size}",
                               hint="use more training images or a smaller batch_size")  # fmt: skip
        return split.subset(torch.arange(half)), split.subset(torch.arange(half, 2 * half))

    def _arch_batches(self, split: TensorSplit, augment: Augment, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        seed = derive_seed(self.config.seed, "arch", epoch)  # a stream of its own for every epoch
        loader = TrainLoader(split, self.config.batch_size, self.device, augment, seed)
        while True:  # an endless supply: each pass over the split is a fresh shuffle
            yield from loader


# ---- AdvRush ----------------------------------------------------------------------------------------------------


def curvature_penalty(model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float, weight: float,
                      reduction: str = "mean", restore_mode: bool = True) -> torch.Tensor:  # fmt: skip
    """AdvRush's (CURE-style) regulariser: the mean over the batch of ``weight * ||grad l(x + z) - grad l(x)||_2``
    with ``z = h * sign(grad l(x)) / ||sign(grad l(x))||_2`` per sample, the input gradients taken with the
    model in eval mode and kept in the graph, so the penalty is differentiable in the alphas and weights.

    ``restore_mode=False`` leaves the model in eval mode afterwards, as the released code does.
    """
    was_training = model.training
    model.eval()
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction=reduction), x)
    direction = g.sign()
    norms = direction.flatten(1).norm(dim=1).clamp_min(1e-12)
    z = h * direction / norms.view(-1, *([1] * (x.dim() - 1)))
    difference = F.cross_entropy(model(x + z), y, reduction=reduction) - F.cross_entropy(model(x), y, reduction=reduction)
    (g_diff,) = torch.autograd.grad(difference, x, create_graph=True)
    penalty = (weight * g_diff.flatten(1).norm(dim=1)).mean()
    if restore_mode:
        model.train(was_training)
    return penalty


class AdvRushSearch(DifferentiableSearch):
    """AdvRush: first-order alpha updates on clean cross-entropy plus the curvature penalty after warm-up."""

    method = "advrush"
    config_type = AdvRushConfig
    zoo_entry = "advrush"

    def architecture_gradient(self, model, x, y, x_arch, y_arch, lr, w_optimizer, epoch):
        cfg = self.config
        loss = F.cross_entropy(model(x_arch), y_arch)
        metrics = {"arch_loss": loss.item()}
        if epoch >= cfg.warmup_epochs:
            penalty = curvature_penalty(model, x_arch, y_arch, cfg.h_at(epoch), cfg.curvature_weight,
                                        cfg.curvature_reduction, restore_mode=not cfg.released_code_quirks)
            loss = loss + cfg.gamma * penalty
            metrics["curvature"] = penalty.item()
        loss.backward(inputs=model.arch_parameters())
        return metrics

    def _weight_step_in_eval_mode(self, epoch: int) -> bool:
        return self.config.released_code_quirks and epoch >= self.config.warmup_epochs

    def _arch_batches(self, split, augment, epoch):
        if not self.config.released_code_quirks:
            return super()._arch_batches(split, augment, epoch)
        # the released code's `next(iter(valid_queue))` on an unshuffled loader: the first batch, re-augmented
        first = split.subset(torch.arange(self.config.batch_size))
        return super()._arch_batches(first, augment, epoch)


# ---- ARNAS ------------------------------------------------------------------------------------------------------


def min_norm_weight(u1: list[torch.Tensor], u2: list[torch.Tensor]) -> float:
    """The gamma in [0, 1] minimising ||gamma * u1 + (1 - gamma) * u2||: the two-task MGDA solution."""
    a = torch.cat([t.flatten() for t in u1])
    b = torch.cat([t.flatten() for t in u2])
    gap = (b - a).dot(b - a)
    if gap == 0:
        return 1.0
    return float(((b - a).dot(b) / gap).clamp(0.0, 1.0))


def unrolled_gradient(model: CellSupernet, x: torch.Tensor, y: torch.Tensor, x_arch: torch.Tensor,
                      y_arch: torch.Tensor, scale: float, lr: float, w_optimizer: torch.optim.Optimizer,
                      r: float = 0.01) -> list[torch.Tensor]:  # fmt: skip
    """DARTS' second-order alpha gradient of ``scale * L(w', x_arch)`` with ``w'`` one virtual SGD step (momentum
    and weight decay included) from ``w`` on ``L(w, x)``; the Hessian-vector term is a central finite difference
    of radius ``r / ||v||`` on ``L(., x)``."""
    names, weights = zip(*model.named_weight_parameters())
    alphas = model.arch_parameters()
    group = w_optimizer.param_groups[0]
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights)
    unrolled = []
    for w, g in zip(weights, grads):
        buffer = w_optimizer.state.get(w, {}).get("momentum_buffer")
        moment = buffer * group["momentum"] if buffer is not None else 0.0
        unrolled.append((w - lr * (moment + g + group["weight_decay"] * w)).detach().requires_grad_(True))
    loss = scale * F.cross_entropy(functional_call(model, dict(zip(names, unrolled)), (x_arch,)), y_arch)
    found = torch.autograd.grad(loss, [*alphas, *unrolled])
    d_alpha, v = found[: len(alphas)], found[len(alphas):]
    radius = r / torch.cat([t.flatten() for t in v]).norm().clamp_min(1e-12)

    def alpha_grad_at(sign: float) -> tuple[torch.Tensor, ...]:
        moved = {n: w.detach() + sign * radius * t for n, w, t in zip(names, weights, v)}
        return torch.autograd.grad(F.cross_entropy(functional_call(model, moved, (x,)), y), alphas)

    plus, minus = alpha_grad_at(1.0), alpha_grad_at(-1.0)
    return [d - lr * (p - m) / (2 * radius) for d, p, m in zip(d_alpha, plus, minus)]


class ArnasSearch(DifferentiableSearch):
    """ARNAS: PGD-trained weights; alphas from the MGDA combination of a natural and an adversarial objective."""

    method = "arnas"
    config_type = ArnasConfig
    zoo_entry = "arnas"

    def weight_inputs(self, model, x, y):
        return self._perturb(model, x, y)

    def architecture_gradient(self, model, x, y, x_arch, y_arch, lr, w_optimizer, epoch):
        cfg = self.config
        x_arch_adv = self._perturb(model, x_arch, y_arch)
        alphas = model.arch_parameters()
        if cfg.unrolled:
            natural = unrolled_gradient(model, x, y, x_arch, y_arch, 1.0, lr, w_optimizer)
            adversarial = unrolled_gradient(model, x, y, x_arch_adv, y_arch, cfg.adv_weight, lr, w_optimizer)
        else:
            natural = torch.autograd.grad(F.cross_entropy(model(x_arch), y_arch), alphas)
            adversarial = torch.autograd.grad(cfg.adv_weight * F.cross_entropy(model(x_arch_adv), y_arch), alphas)
        gamma = min_norm_weight(natural, adversarial)
        for alpha, g_nat, g_adv in zip(alphas, natural, adversarial):
            alpha.grad = gamma * g_nat + (1 - gamma) * g_adv
        return {"mgda_gamma": gamma}

    def _perturb(self, model, x, y):
        loss = lambda logits: F.cross_entropy(logits, y, reduction="sum")  # noqa: E731
        return perturb(model, x, self.config.adversary, loss, contextlib.nullcontext)

