"""Differentiable robust architecture searches over the DARTS space: AdvRush and ARNAS.

Both alternate, on every step, one architecture update (Adam on the alphas, from an "architecture" batch) and
one weight update (SGD with a cosine schedule on a "weight" batch) of a :class:`CellSupernet`, and end with the
genotype the alphas select. :class:`DifferentiableSearch` is that loop, resumable to the step; each method
overrides :meth:`~DifferentiableSearch.architecture_gradient` (and, for ARNAS, the inputs of the weight step):

- AdvRush (Mok et al., ICCV 2021; nutellamok/advrush): clean cross-entropy on both updates, first order; after
  ``warmup_epochs`` the alpha loss adds ``gamma`` times a CURE-style input-curvature penalty. Two presets:
  ``released`` (the default) is the run of the released ``train_search.py``, ``paper`` the paper's description.
- ARNAS (Ou et al., CVPR 2024; fyqsama/ARNAS): three cell kinds, weights trained on 7-step PGD examples only,
  alphas from DARTS' second-order (unrolled) gradient of a natural and an adversarial objective, combined by
  the two-task MGDA min-norm rule.

The defaults hold the released code's settings (SPEC sections 5 and 6); every field can be overridden.
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
from robench.search.base import STATE_FORMAT, Preset, Search
from robench.search.run import SearchResult
from robench.search.supernet import CellSupernet
from robench.zoo.registry import DATASETS

ARCH_DATA = ("train", "half", "first-batch")


@dataclass(frozen=True)
class DifferentiableConfig:
    """What every differentiable search shares.

    ``arch_data="train"``: architecture batches are drawn from the whole training split, as the weight batches
    are; ``"half"``: the split is cut in two fixed halves, weights on the first and alphas on the second (DARTS,
    ARNAS); ``"first-batch"``: the architecture batch is always the first ``batch_size`` training images,
    re-augmented at every step. ``shuffle=False`` iterates the images in their stored order; ``drop_last=False``
    keeps an epoch's last, smaller batch. ``lr_epoch_offset=1`` runs epoch ``e`` at the cosine value of epoch
    ``e + 1`` (a scheduler stepped before each epoch instead of after it).
    """

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
    shuffle: bool = True
    drop_last: bool = True
    lr_epoch_offset: int = 0
    crop_padding: int = 4
    flip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch_data not in ARCH_DATA:
            raise RobenchError(f"arch_data={self.arch_data!r} is not one of {', '.join(ARCH_DATA)}",
                               hint="arch_data=first-batch (AdvRush's code), half (ARNAS, AdvRush's paper) "
                                    "or train")  # fmt: skip
        if self.epochs < 1 or self.batch_size < 1:
            raise RobenchError("epochs and batch_size must be at least 1", hint="e.g. --set epochs=1")
        if self.lr_epoch_offset not in (0, 1):
            raise RobenchError(f"lr_epoch_offset={self.lr_epoch_offset} is not 0 or 1",
                               hint="1: the released AdvRush code's schedule, 0: cosine from epoch 0")  # fmt: skip

    def lr_at(self, epoch: int) -> float:
        """Cosine annealing from ``lr`` to ``lr_min`` over the epochs, one value per epoch (DARTS' scheduler),
        shifted by ``lr_epoch_offset``."""
        t = epoch + self.lr_epoch_offset
        return self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * t / self.epochs)) / 2


@dataclass(frozen=True)
class AdvRushConfig(DifferentiableConfig):
    """AdvRush's search; the defaults are the released run (preset ``released``, below).

    The penalty is ``curvature_weight`` times the batch mean of ``||grad l(x + z) - grad l(x)||_2`` with the input
    gradients taken in normalised input space (where the reference network's inputs live) and ``h`` an l2 radius
    there. ``curvature_reduction`` is the loss those gradients are taken of: ``"sum"`` gives per-sample
    gradients, ``"mean"`` gradients 1/B as large (a penalty, hence a ``gamma``, B times weaker).

    The released ``regularizer.py`` calls ``backward(torch.ones(B))`` and ``autograd.grad(...,
    grad_outputs=torch.ones(B))`` on scalar, batch-mean losses. Current PyTorch rejects that shape; the PyTorch
    1.2 the authors ran accepted it and summed the gradient to the output's shape, the scalar B (the check came
    with pytorch/pytorch PR #25349, after 1.2.0), so their run used per-sample input gradients: ``"sum"``.
    Patching ``ones(B)`` to ``ones(B).sum()`` in ``loss_cure`` reproduces it on current PyTorch, and a
    sum-reduced implementation matches that to 2e-9 (SPEC section 5, "Reduction detail").

    The same direction-finding ``backward`` also accumulates the gradient of that (eval-mode, summed) loss into
    the alphas, which are plain tensors that ``net.zero_grad()`` does not clear: the released run's alpha step
    after warm-up descends it too (``direction_loss_in_alpha_grad``). ``bn_eval_after_penalty``: the
    regulariser leaves the network in eval mode, so the weight step that follows runs with batch norm in eval
    mode. ``weight_step_first`` updates the weights before the alphas in each step (the paper's Algorithm 1;
    the code updates the alphas first).
    """

    gamma: float = 0.01
    curvature_weight: float = 4.0
    warmup_epochs: int = 50
    h_schedule: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9, 1.2, 1.5)
    curvature_reduction: str = "sum"
    direction_loss_in_alpha_grad: bool = True
    bn_eval_after_penalty: bool = True
    weight_step_first: bool = False
    arch_data: str = "first-batch"
    shuffle: bool = False
    drop_last: bool = False
    lr_epoch_offset: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.curvature_reduction not in ("mean", "sum"):
            raise RobenchError(f"curvature_reduction={self.curvature_reduction!r} is not mean or sum",
                               hint="curvature_reduction=sum (the authors' run) or mean")  # fmt: skip
        if not self.h_schedule:
            raise RobenchError("h_schedule needs at least one value", hint="e.g. h_schedule=0,0.3,0.6,0.9,1.2,1.5")

    def h_at(self, epoch: int) -> float:
        """The finite-difference radius of epoch ``epoch``; the last value holds for all later epochs."""
        return self.h_schedule[min(epoch, len(self.h_schedule) - 1)]


ADVRUSH_PRESETS = {
    "released": Preset(AdvRushConfig(), (
        "the run of the released advrush/train_search.py with the README's command (--batch_size 32 --epochs 60 "
        "--a_gamma 0.01 --a_warmup_epochs 50) on the PyTorch 1.2 it was written for: the whole training set "
        "for the weights, iterated in order, the last batch of 16 kept; the first 32 training images, "
        "re-augmented, as the architecture batch of every step; alphas first; epoch e at the cosine lr of e+1; "
        "penalty 4 x the per-sample gradient difference with h ramped 0, 0.3, ..., 1.5; the direction loss's "
        "gradient left in the alphas; batch norm in eval mode for the weight step after warm-up. robench's: "
        "the seed and the random streams (crops, flips, initial weights)")),
    "paper": Preset(AdvRushConfig(
        arch_data="half", shuffle=True, lr_epoch_offset=0, weight_step_first=True, curvature_weight=1.0,
        h_schedule=(1.5,), direction_loss_in_alpha_grad=False, bn_eval_after_penalty=False,
    ), (
        "the paper's section 5.1, Eq. (10) and Algorithm 1: the training set split evenly, weights on the first "
        "half and alphas on the second; 60 epochs, 50 of warm-up, batch 32; SGD lr 0.025, momentum 0.9, weight "
        "decay 3e-4; Adam 3e-4, betas (0.5, 0.999), weight decay 1e-3; weights updated before alphas; the "
        "penalty gamma = 0.01 times ||grad l(x + h z) - grad l(x)|| per sample with h = 1.5 (no extra lambda). "
        "Not in the paper, so taken from DARTS / the released code: shuffled batches, the last smaller batch "
        "kept, cosine to 1e-3 starting at 0.025 in epoch 0, gradient clipping at 5, C=16 with 8 cells; "
        "robench's: the seed and the random streams")),
}  # fmt: skip


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

    budget_fields = ("epochs", "C", "layers")

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
        weight_loader = self._weight_loader(weight_split, augment)
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
        weights_first = self._weight_step_first()
        if weights_first:
            self._weight_step(model, w_opt, x, y, sums)
        a_opt.zero_grad(set_to_none=True)
        for name, value in self.architecture_gradient(model, x, y, x_arch, y_arch, lr, w_opt, epoch).items():
            sums[name] = sums.get(name, 0.0) + value
        a_opt.step()
        if not weights_first:
            model.train(not self._weight_step_in_eval_mode(epoch))
            self._weight_step(model, w_opt, x, y, sums)

    def _weight_step(self, model, w_opt, x, y, sums) -> None:
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

    def _weight_step_first(self) -> bool:
        return False

    def _normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        data = DATASETS[self.spec.name]
        return data.mean, data.std

    def _build_model(self) -> CellSupernet:
        cfg = self.config
        mean, std = self._normalization() if cfg.normalize else (None, None)
        return CellSupernet(cfg.space, cfg.C, self.spec.num_classes, cfg.layers, mean, std).to(self.device)

    def _splits(self) -> tuple[TensorSplit, TensorSplit]:
        split = self.training_split()
        if self.config.arch_data == "train":
            return split, split
        if self.config.arch_data == "first-batch":
            # the released AdvRush code's `next(iter(valid_queue))` on an unshuffled loader: the first batch
            return split, split.subset(torch.arange(min(self.config.batch_size, len(split))))
        half = len(split) // 2
        if half < self.config.batch_size:
            raise RobenchError(f"half of {len(split)} training images is less than one batch of {self.config.batch_size}",
                               hint="use more training images or a smaller batch_size")  # fmt: skip
        return split.subset(torch.arange(half)), split.subset(torch.arange(half, 2 * half))

    def _weight_loader(self, split: TensorSplit, augment: Augment) -> TrainLoader:
        cfg = self.config
        return TrainLoader(split, cfg.batch_size, self.device, augment, derive_seed(cfg.seed, "weights"),
                           drop_last=cfg.drop_last, shuffle=cfg.shuffle)  # fmt: skip

    def _arch_batches(self, split: TensorSplit, augment: Augment, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        seed = derive_seed(self.config.seed, "arch", epoch)  # a stream of its own for every epoch
        loader = TrainLoader(split, self.config.batch_size, self.device, augment, seed, shuffle=self.config.shuffle)
        while True:  # an endless supply: each pass over the split is a fresh draw
            yield from loader


# ---- AdvRush ----------------------------------------------------------------------------------------------------


# The CIFAR-10 normalisation of advrush/utils.py `_data_transforms_cifar10`, which train_search.py uses.
ADVRUSH_SEARCH_STATS = {"cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768))}


def curvature_penalty(model: CellSupernet, x: torch.Tensor, y: torch.Tensor, h: float, weight: float,
                      reduction: str = "sum", restore_mode: bool = True,
                      alpha_grads: bool = False) -> tuple[torch.Tensor, list[torch.Tensor] | None]:  # fmt: skip
    """AdvRush's (CURE-style) regulariser on the batch ``x`` (in [0, 1]; the model normalises it).

    With ``u = normalize(x)``, ``g = grad_u l(u)`` and ``z = h (sign g + 1e-7) / (||sign g||_2 + 1e-7)`` per
    sample (the released ``_find_z``), the penalty is the batch mean of ``weight * ||grad_u l(u + z) -
    grad_u l(u)||_2``, ``l`` the cross-entropy reduced by ``reduction`` over the batch and the model in eval
    mode; the second gradients stay in the graph, so the penalty is differentiable in the alphas and weights.

    Returns the penalty and, with ``alpha_grads``, the alphas' gradients of ``l(u)`` (what the released
    direction-finding ``backward`` leaves in them). ``restore_mode=False`` leaves the model in eval mode, as
    the released code does.
    """
    was_training = model.training
    model.eval()
    u = model.normalize(x).detach().requires_grad_(True)
    logits = model.forward_normalized(u)
    loss = F.cross_entropy(logits, y, reduction=reduction)
    found = torch.autograd.grad(loss, [u, *model.arch_parameters()] if alpha_grads else [u], retain_graph=True)
    direction = found[0].sign()
    norms = direction.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
    z = h * (direction + 1e-7) / (norms + 1e-7)
    # the clean logits are reused: an eval-mode forward of the same input is the same computation
    difference = F.cross_entropy(model.forward_normalized(u + z), y, reduction=reduction) - loss
    (g_diff,) = torch.autograd.grad(difference, u, create_graph=True)
    penalty = (weight * g_diff.flatten(1).norm(dim=1)).mean()
    if restore_mode:
        model.train(was_training)
    return penalty, list(found[1:]) if alpha_grads else None


class AdvRushSearch(DifferentiableSearch):
    """AdvRush: first-order alpha updates on clean cross-entropy plus the curvature penalty after warm-up."""

    method = "advrush"
    config_type = AdvRushConfig
    presets = ADVRUSH_PRESETS
    zoo_entry = "advrush"

    def architecture_gradient(self, model, x, y, x_arch, y_arch, lr, w_optimizer, epoch):
        cfg = self.config
        loss = F.cross_entropy(model(x_arch), y_arch)
        metrics = {"arch_loss": loss.item()}
        leaked = None
        if epoch >= cfg.warmup_epochs:
            penalty, leaked = curvature_penalty(model, x_arch, y_arch, cfg.h_at(epoch), cfg.curvature_weight,
                                                cfg.curvature_reduction, restore_mode=not cfg.bn_eval_after_penalty,
                                                alpha_grads=cfg.direction_loss_in_alpha_grad)  # fmt: skip
            loss = loss + cfg.gamma * penalty
            metrics["curvature"] = penalty.item()
        loss.backward(inputs=model.arch_parameters())
        for alpha, g in zip(model.arch_parameters(), leaked or ()):
            alpha.grad += g
        return metrics

    def _weight_step_in_eval_mode(self, epoch: int) -> bool:
        return self.config.bn_eval_after_penalty and epoch >= self.config.warmup_epochs

    def _weight_step_first(self) -> bool:
        return self.config.weight_step_first

    def _normalization(self):
        return ADVRUSH_SEARCH_STATS.get(self.spec.name) or super()._normalization()


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

