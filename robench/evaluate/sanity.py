"""Checks that a number is trustworthy, run before and after the attacks. Each finding is a flag kept in the
result record and shown to the user, with its cause and remedy (as AutoAttack's flags_doc does)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
from torch import nn

from robench.evaluate.presets import strength_pairs


@dataclass(frozen=True)
class Flag:
    code: str
    message: str

    def to_record(self) -> dict:
        return asdict(self)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def check_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str,
                autoattack_parts: list[str], targets: int) -> list[Flag]:
    """Pre-attack checks on one batch: AutoAttack's own checks (randomised, softmax output, dynamic, number of
    classes), then zero input gradients and accuracy monotone in eps."""
    from pyautoattack import checks

    flags: list[Flag] = []
    logger = logging.getLogger("robench.sanity.autoattack")
    logger.propagate = False
    collect = _Collect()
    logger.addHandler(collect)
    try:
        checks.check_randomized(model, x, y, bs=len(x), logger=logger)
        n_classes = checks.check_range_output(model, x, logger=logger)
        checks.check_dynamic(model, x, False, logger=logger)
        checks.check_n_classes(n_classes, autoattack_parts, targets, targets, logger=logger)
    finally:
        logger.removeHandler(collect)
    flags += [Flag("autoattack-check", " ".join(m.split())) for m in collect.messages]

    x = x.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    if grad.abs().max().item() == 0:
        flags.append(Flag("zero-gradients",
                          "the loss has zero gradient w.r.t. the inputs on the first batch, so gradient attacks "
                          "cannot work and their numbers overstate robustness; remove non-differentiable "
                          "preprocessing or rely on black-box attacks (square)"))
    if norm == "Linf":
        accuracies = [_pgd_accuracy(model, x.detach(), y, e) for e in (eps / 4, eps / 2, eps)]
        if any(later > earlier for earlier, later in zip(accuracies, accuracies[1:])):
            flags.append(Flag("non-monotone-eps",
                              f"accuracy under PGD-5 rises with eps on the first batch ({accuracies}); this is a "
                              "sign of gradient masking: add black-box attacks (square) to the suite"))
    return flags


def _pgd_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    import torchattacks

    torch.manual_seed(0)
    x_adv = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=5, random_start=False)(x, y)
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()


def check_results(per_attack: dict[str, float], chained: bool, broken_by_black_box: int, n: int) -> list[Flag]:
    """Post-attack checks on the accuracies (that none exceeds clean accuracy is a rule of the record schema)."""
    flags = []
    if not chained:
        for weak, strong in strength_pairs():
            if weak in per_attack and strong in per_attack and per_attack[strong] > per_attack[weak]:
                flags.append(Flag("stronger-attack-weaker",
                                  f"{strong} leaves more points robust ({per_attack[strong]:.4f}) than {weak} "
                                  f"({per_attack[weak]:.4f}); a sign of gradient masking or a broken attack"))
    if chained and n and broken_by_black_box / n > 0.002:
        flags.append(Flag("black-box-beats-white-box",
                          f"a black-box attack broke {broken_by_black_box} points that every white-box attack "
                          "before it missed (> 0.2%): the white-box attacks are likely masked; treat the "
                          "white-box numbers as unreliable (AutoAttack flag 'square SR')"))
    return flags
