"""The training objectives: standard, PGD-AT (Madry), TRADES and FGSM-RS.

Attack examples come from :mod:`robench.perturb`; the training forward passes go through one callable
(``forward_train``) that returns ``(logits, aux_logits | None)`` for each input it is given, so a data-parallel
wrapper sees exactly one forward per optimiser step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robench.errors import RobenchError
from robench.perturb import Adversary, perturb
from robench.train.recipes import Recipe

# forward_train over several inputs at once: [(logits, aux_logits | None), ...], one entry per input
TrainForward = Callable[..., Sequence[tuple[torch.Tensor, torch.Tensor | None]]]


def adversary_from_recipe(recipe: Recipe) -> Adversary | None:
    """The recipe's training adversary, or None for standard training."""
    if recipe.adversary == "none":
        return None
    steps = 1 if recipe.adversary == "fgsm-rs" else recipe.steps
    return Adversary(recipe.eps_value, recipe.step_value, steps, recipe.start, recipe.attack_mode)


@dataclass
class StepOutput:
    """What one training step computed: the loss to minimise, the logits it came from, and its parts."""

    loss: torch.Tensor
    logits_clean: torch.Tensor | None
    logits_adv: torch.Tensor | None
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


def _aux_term(recipe: Recipe, aux: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor | None:
    if recipe.aux_weight <= 0:
        return None
    if aux is None:
        raise RobenchError(
            f"recipe {recipe.name!r} weights an auxiliary loss ({recipe.aux_weight}) "
            "but the model has no auxiliary head",
            hint="build the model with auxiliary=True, or --set aux_weight=0",
        )
    return recipe.aux_weight * F.cross_entropy(aux, y)


def _total(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack(list(parts.values())).sum()


def training_step(
    model: nn.Module,
    forward_train: TrainForward,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    adversary: Adversary | None,
    autocast: Callable[[], object],
) -> StepOutput:
    """The objective of ``recipe.adversary`` on one batch (model in train mode; the caller does backward)."""
    if adversary is None:
        return standard_step(forward_train, x, y, recipe, autocast)
    if recipe.adversary == "trades":
        return trades_step(model, forward_train, x, y, recipe, adversary, autocast)
    return adversarial_step(model, forward_train, x, y, recipe, adversary, autocast)


def standard_step(
    forward_train: TrainForward, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, autocast: Callable[[], object]
) -> StepOutput:
    """Cross-entropy on clean inputs, plus the weighted auxiliary loss (DARTS)."""
    with autocast():
        ((logits, aux),) = forward_train(x)
        parts = {"ce": F.cross_entropy(logits, y)}
        if (aux_loss := _aux_term(recipe, aux, y)) is not None:
            parts["aux"] = aux_loss
    return StepOutput(_total(parts), logits, None, parts)


def adversarial_step(
    model: nn.Module,
    forward_train: TrainForward,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    adversary: Adversary,
    autocast: Callable[[], object],
) -> StepOutput:
    """Cross-entropy on adversarial examples only (Madry PGD-AT, FGSM-RS); the auxiliary loss is taken on the
    clean forward pass when ``recipe.aux_on_clean`` (AdvRush / ARNAS), else on the adversarial one."""
    x_adv = perturb(model, x, adversary, lambda logits: F.cross_entropy(logits, y, reduction="sum"), autocast)
    clean_aux = recipe.aux_weight > 0 and recipe.aux_on_clean
    with autocast():
        outputs = forward_train(x, x_adv) if clean_aux else forward_train(x_adv)
        logits_adv, aux_adv = outputs[-1]
        parts = {"ce_adv": F.cross_entropy(logits_adv, y)}
        aux_loss = _aux_term(recipe, outputs[0][1] if clean_aux else aux_adv, y)
        if aux_loss is not None:
            parts["aux"] = aux_loss
    logits_clean = outputs[0][0] if clean_aux else None
    return StepOutput(_total(parts), logits_clean, logits_adv, parts)


def trades_step(
    model: nn.Module,
    forward_train: TrainForward,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    adversary: Adversary,
    autocast: Callable[[], object],
) -> StepOutput:
    """TRADES (Zhang et al. 2019): CE(f(x), y) + beta * KL(f(x) || f(x_adv)) / batch, x_adv maximising the KL.

    The KL term is taken on the adversarial logits (AdvRush's trades.py feeds clean inputs there, which makes it
    zero); the natural distribution is not detached, as in the reference code.
    """
    was_training = model.training
    model.train(adversary.mode == "train")
    with torch.no_grad(), autocast():
        target = F.softmax(model(x).float(), dim=1)
    model.train(was_training)

    def kl_to_natural(logits: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(logits.float(), dim=1), target, reduction="sum")

    x_adv = perturb(model, x, adversary, kl_to_natural, autocast)
    with autocast():
        (logits_clean, aux), (logits_adv, _) = forward_train(x, x_adv)
        robust = F.kl_div(
            F.log_softmax(logits_adv.float(), dim=1), F.softmax(logits_clean.float(), dim=1), reduction="sum"
        ) / x.shape[0]
        parts = {"ce": F.cross_entropy(logits_clean, y), "kl": recipe.trades_beta * robust}
        if (aux_loss := _aux_term(recipe, aux, y)) is not None:
            parts["aux"] = aux_loss
    return StepOutput(_total(parts), logits_clean, logits_adv, parts)
