"""Projected signed-gradient perturbations for training-time adversaries (adversarial training and the
robust architecture searches), crafted with ``torch.autograd.grad`` on the bare model so no parameter gradient
is touched and no DistributedDataParallel hook fires.

Evaluation attacks are not made here: they come from torchattacks and pyautoattack (``robench.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

START_KINDS = ("uniform", "normal", "zero")


@dataclass(frozen=True)
class Adversary:
    """An l_inf adversary: ``steps`` signed-gradient steps of ``step`` inside the ``eps`` ball, from ``start``,
    with the model in ``mode`` while it runs. FGSM-RS is the one-step case with a uniform start.

    ``clip=False`` leaves the [0, 1] image range unenforced, as cleverhans' PGD does without clip_min/clip_max
    (the ARNAS search's released code).
    """

    eps: float
    step: float
    steps: int
    start: str = "uniform"
    mode: str = "eval"
    clip: bool = True


def random_start(x: torch.Tensor, eps: float, start: str, clip: bool = True) -> torch.Tensor:
    """The attack's first point, drawn from torch's global generator (so resuming restores it)."""
    if start == "uniform":
        x0 = x + torch.empty_like(x).uniform_(-eps, eps)
        return x0.clamp_(0.0, 1.0) if clip else x0
    if start == "normal":
        return x + 0.001 * torch.randn_like(x)
    return x.clone()


def perturb(
    model: nn.Module,
    x: torch.Tensor,
    adversary: Adversary,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    autocast: Callable[[], object],
) -> torch.Tensor:
    """Projected signed-gradient ascent on ``loss_fn(model(x_adv))``; the result lies in the eps ball (and in
    [0, 1] when ``adversary.clip``).

    The loss is summed over the batch: the sign of the gradient is unchanged, and under fp16 a sum underflows
    far less than a mean.
    """
    was_training = model.training
    model.train(adversary.mode == "train")
    try:
        lower, upper = x - adversary.eps, x + adversary.eps
        if adversary.clip:
            lower, upper = lower.clamp(min=0.0), upper.clamp(max=1.0)
        x_adv = random_start(x, adversary.eps, adversary.start, adversary.clip).detach()
        for _ in range(adversary.steps):
            x_adv.requires_grad_(True)
            with autocast():
                loss = loss_fn(model(x_adv))
            (grad,) = torch.autograd.grad(loss.float(), x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + adversary.step * grad.sign(), lower), upper)
        return x_adv.detach()
    finally:
        model.train(was_training)
