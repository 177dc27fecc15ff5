"""Training recipes: every hyper-parameter of a run in one dataclass, and named presets from the papers.

A :class:`Recipe` is plain data (JSON round-trip via :meth:`Recipe.to_dict` / :meth:`Recipe.from_dict`), so the
exact recipe a checkpoint was trained with lives in its config.json. Presets reproduce the published protocols
(SPEC section 8 and the TRADES / fast-AT papers); any field can be overridden by name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from robench.data.datasets import parse_eps
from robench import settings
from robench.errors import RobenchError
from robench.perturb import START_KINDS

SCHEDULES = ("constant", "step", "cosine", "cyclic")
# each training adversary, with how a table describes training against it ({steps}: the recipe's PGD steps)
ADVERSARIES = {"none": "standard training", "pgd": "PGD-{steps} adversarial training",
               "trades": "TRADES adversarial training", "fgsm-rs": "FGSM-RS (fast) adversarial training"}  # fmt: skip
ATTACK_MODES = ("train", "eval")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run (the model, data set and output directory aside).

    Epochs are counted from 0. ``decay_epochs`` are the epochs from which the lr is multiplied by one more
    ``decay_factor``; ``warmup_epochs`` ramp the lr linearly from ``warmup_lr`` to the peak, after which
    ``cosine`` anneals to ``lr_min`` over the remaining epochs. ``per_step`` evaluates the schedule at every
    optimiser step (fractional epochs) instead of once per epoch. With ``lr_reference_batch`` the peak lr is
    ``lr * batch_size / lr_reference_batch`` (linear scaling, RobNet). ``eps`` and ``step_size`` are kept as
    written (``"8/255"``, ``"0.031"``); ``start="normal"`` is ``x + 0.001 * N(0, 1)`` (TRADES / AdvRush).
    ``attack_mode`` is the mode the model is in while the training adversary runs. ``aux_on_clean`` computes the
    auxiliary loss on the clean forward pass (AdvRush / ARNAS) instead of the adversarial one.

    ``members_separately`` (ensembles) trains each member on its own, for its share of ``epochs`` by cell count
    (:func:`member_epochs`), each with this recipe's schedule over its own epochs; then the combining head for
    ``combiner_epochs`` on the fixed members (same optimiser settings, no warm-up, drop-path or auxiliary loss).
    """

    name: str = "custom"
    source: str = ""
    # data
    epochs: int = 100
    batch_size: int = 128
    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0
    # optimiser (SGD)
    lr: float = 0.1
    lr_reference_batch: int | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    no_wd_on_bn_bias: bool = False
    # schedule
    schedule: str = "cosine"
    lr_min: float = 0.0
    decay_epochs: tuple[int, ...] = ()
    decay_factor: float = 0.1
    warmup_epochs: int = 0
    warmup_lr: float = 0.0
    per_step: bool = False
    # regularisation
    grad_clip: float | None = None
    aux_weight: float = 0.0
    aux_on_clean: bool = False
    drop_path: float = 0.0
    # ensembles
    members_separately: bool = False
    combiner_epochs: int = 2
    # training adversary
    adversary: str = "none"
    eps: str = "8/255"
    step_size: str = "2/255"
    steps: int = 7
    start: str = "uniform"
    attack_mode: str = "eval"
    trades_beta: float = 6.0
    # run
    seed: int = 0
    amp: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        for name in ("eps", "step_size"):
            object.__setattr__(self, name, _eps_text(getattr(self, name), name))
        object.__setattr__(self, "decay_epochs", tuple(int(e) for e in self.decay_epochs))
        self._validate()

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Recipe:
        """The preset ``name`` with ``overrides`` applied (field names as in this class)."""
        key = str(name).strip().lower().replace("_", "-")
        if key not in PRESETS:
            raise RobenchError(f"unknown training recipe {name!r}", hint=f"known recipes: {', '.join(PRESETS)}")
        return PRESETS[key].replace(**overrides)

    def replace(self, **overrides: Any) -> Recipe:
        unknown = sorted(set(overrides) - set(field_names()))
        if unknown:
            raise RobenchError(
                f"unknown recipe field(s): {', '.join(unknown)}",
                hint=f"recipe fields are: {', '.join(field_names())}",
            )
        return dataclasses.replace(self, **overrides)

    def shortened(self, epochs: int) -> Recipe:
        """The same recipe over ``epochs`` epochs, its schedule compressed in proportion: learning-rate
        milestones and the warm-up move to the same fraction of the run (those that would fall on its first
        epoch or past its end are dropped). A smaller budget, the same algorithm."""
        ratio = epochs / self.epochs
        decay = tuple(d for d in (round(d * ratio) for d in self.decay_epochs) if 0 < d < epochs)
        warmup = min(round(self.warmup_epochs * ratio), epochs - 1)
        return self.replace(epochs=epochs, decay_epochs=decay, warmup_epochs=warmup,
                            combiner_epochs=min(self.combiner_epochs, epochs))

    def with_settings(self, settings: Mapping[str, str]) -> Recipe:
        """Apply ``key=value`` strings (as given on the command line), converting each to its field's type."""
        return self.replace(**{key: parse_field(key, value) for key, value in settings.items()})

    def description(self) -> str:
        """How a checkpoint of this recipe was trained, in words for tables: "PGD-7 adversarial training, 200
        epochs". The trainer writes it into the checkpoint; evaluation records copy it."""
        kind = ADVERSARIES[self.adversary].format(steps=self.steps)
        return f"{kind}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["decay_epochs"] = list(self.decay_epochs)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        unknown = sorted(set(data) - set(field_names()))
        if unknown:
            raise RobenchError(
                f"recipe record has unknown field(s): {', '.join(unknown)}",
                hint="it was written by a newer robench; upgrade robench to read it",
            )
        return cls(**dict(data))

    # -- derived values -------------------------------------------------------------------------------------

    @property
    def eps_value(self) -> float:
        return parse_eps(self.eps)

    @property
    def step_value(self) -> float:
        return parse_eps(self.step_size)

    @property
    def peak_lr(self) -> float:
        if self.lr_reference_batch is None:
            return self.lr
        return self.lr * self.batch_size / self.lr_reference_batch

    def lr_at(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        """The learning rate of optimiser step ``step`` (0-based) of epoch ``epoch`` (0-based)."""
        t = epoch + step / steps_per_epoch if self.per_step else float(epoch)
        peak = self.peak_lr
        if self.schedule == "cyclic":
            # one triangle over the whole run: lr_min -> peak at half-time -> lr_min
            return self.lr_min + (peak - self.lr_min) * max(0.0, 1.0 - abs(2.0 * t / self.epochs - 1.0))
        if t < self.warmup_epochs:
            return self.warmup_lr + (peak - self.warmup_lr) * t / self.warmup_epochs
        if self.schedule == "constant":
            return peak
        if self.schedule == "step":
            return peak * self.decay_factor ** sum(t >= d for d in self.decay_epochs)
        ratio = (t - self.warmup_epochs) / (self.epochs - self.warmup_epochs)
        return self.lr_min + (peak - self.lr_min) * (1.0 + math.cos(math.pi * ratio)) / 2.0

    def drop_path_at(self, epoch: int) -> float:
        """DARTS ramps drop-path linearly with the epoch: ``drop_path * epoch / epochs``."""
        return self.drop_path * epoch / self.epochs

    # -- validation -----------------------------------------------------------------------------------------

    def _validate(self) -> None:
        def bad(what: str, hint: str) -> RobenchError:
            return RobenchError(f"recipe {self.name!r}: {what}", hint=hint)

        for name, allowed in (("schedule", SCHEDULES), ("adversary", ADVERSARIES), ("start", START_KINDS),
                              ("attack_mode", ATTACK_MODES)):  # fmt: skip
            if getattr(self, name) not in allowed:
                value = getattr(self, name)
                raise bad(f"{name}={value!r} is not one of {', '.join(allowed)}", f"set {name} to one of them")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise bad(f"{name} must be at least 1, got {getattr(self, name)}", f"set {name} to a positive integer")
        if self.steps < 1 and self.adversary in ("pgd", "trades"):
            raise bad(f"{self.adversary} needs steps >= 1, got {self.steps}", "e.g. steps=7")
        if self.lr <= 0 or self.lr_min < 0 or self.warmup_lr < 0 or self.weight_decay < 0:
            raise bad("lr must be positive and lr_min, warmup_lr, weight_decay non-negative", "check the lr settings")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise bad(f"warmup_epochs={self.warmup_epochs} must be in [0, epochs={self.epochs})", "shorten the warm-up")
        if self.schedule == "cyclic" and self.warmup_epochs:
            raise bad("the cyclic schedule has its own ramp-up; warmup_epochs must be 0", "set warmup_epochs=0")
        if not 0 <= self.drop_path < 1:
            raise bad(f"drop_path must be in [0, 1), got {self.drop_path}", "e.g. drop_path=0.2")
        if self.aux_weight < 0 or self.trades_beta < 0 or self.cutout < 0 or self.crop_padding < 0:
            raise bad("aux_weight, trades_beta, cutout and crop_padding must be non-negative", "check those fields")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad(f"grad_clip must be positive or None, got {self.grad_clip}", "use grad_clip=none to disable it")
        if self.combiner_epochs < 1:
            raise bad(f"combiner_epochs must be at least 1, got {self.combiner_epochs}", "e.g. combiner_epochs=2")
        if self.lr_reference_batch is not None and self.lr_reference_batch < 1:
            raise bad("lr_reference_batch must be a positive batch size or None", "e.g. lr_reference_batch=none")


def _eps_text(value: Any, name: str) -> str:
    if isinstance(value, bool):
        raise RobenchError(f"invalid recipe {name} {value!r}", hint="give a number or a fraction such as 8/255")
    text = repr(float(value)) if isinstance(value, (int, float)) else str(value).strip().replace(" ", "")
    try:
        parse_eps(text)
    except RobenchError as err:
        raise RobenchError(f"invalid recipe {name}: {err.message}", hint=err.hint) from None
    return text


def member_epochs(epochs: int, cells: tuple[int, ...] | list[int]) -> list[int]:
    """The paper's split of an ensemble's epoch budget: each member's share by its cell count (at least 1), so
    600 epochs over members of 12, 6 and 2 cells are 360, 180 and 60 (Devaguptapu et al. 2021, section 3)."""
    return [max(1, round(epochs * c / sum(cells))) for c in cells]


def field_names() -> list[str]:
    return settings.field_names(Recipe)


def parse_field(key: str, text: str) -> Any:
    """Convert the command-line text of recipe field ``key`` to the field's type (``none`` for optional ones)."""
    return settings.parse_field(Recipe, key, text, "recipe")


parse_settings = settings.parse_settings


# -- presets --------------------------------------------------------------------------------------------------

_DARTS = Recipe(
    name="darts",
    source="DARTS (Liu et al. 2019), quark0/darts train.py; SPEC 8.5",
    epochs=600, batch_size=96, cutout=16,
    lr=0.025, momentum=0.9, weight_decay=3e-4,
    schedule="cosine", lr_min=0.0,
    grad_clip=5.0, aux_weight=0.4, drop_path=0.2,
    adversary="none", seed=0,
)  # fmt: skip

_ADVRUSH = Recipe(
    name="advrush-pgd",
    source="AdvRush (Mok et al. 2021) PGD-AT, nutellamok/advrush adv_train.py; SPEC 8.3",
    epochs=200, batch_size=64, cutout=0,
    lr=0.1, momentum=0.9, weight_decay=1e-4,
    schedule="step", decay_epochs=(99, 149), decay_factor=0.1,
    grad_clip=5.0, aux_weight=0.0, aux_on_clean=True, drop_path=0.0,
    adversary="pgd", eps="0.031", step_size="0.01", steps=7, start="normal", attack_mode="eval",
    seed=0,
)  # fmt: skip

PRESETS: dict[str, Recipe] = {
    "darts": _DARTS,
    "pdarts": _DARTS.replace(
        name="pdarts", source="P-DARTS (Chen et al. 2019), chenxin061/pdarts train_cifar.py; SPEC 8.5",
        batch_size=128, drop_path=0.3,
    ),
    "random-ensemble": _DARTS.replace(
        name="random-ensemble",
        source="Devaguptapu et al. 2021 (seed 003) sections 3 and 4.4: each member trained separately with the "
               "DARTS protocol (quark0/darts train.py), 600 epochs split by cell count, then the combiner for 2 "
               "epochs; the combiner's optimiser settings are robench's (the DARTS ones, cosine over 2 epochs)",
        members_separately=True, combiner_epochs=2,
    ),
    "robnet-pgd": Recipe(
        name="robnet-pgd",
        source="RobNet (Guo et al. 2020), gmh14/RobNets RobNet_free_cifar10 config + main.py; SPEC 8.2",
        epochs=170, batch_size=1536, cutout=0,
        lr=1.2, lr_reference_batch=1536, momentum=0.9, weight_decay=1e-4, no_wd_on_bn_bias=True,
        schedule="cosine", lr_min=1e-3, warmup_epochs=20, warmup_lr=0.02,
        adversary="pgd", eps="8/255", step_size="2/255", steps=7, start="uniform", attack_mode="train",
        seed=10,
    ),  # fmt: skip
    "advrush-pgd": _ADVRUSH,
    "arnas-pgd": _ADVRUSH.replace(
        name="arnas-pgd",
        source="ARNAS (Ou et al. 2024), fyqsama/ARNAS ARNAS_train_eval adv_train.py; SPEC 8.4",
        batch_size=32, cutout=16, aux_weight=0.4, aux_on_clean=True, eps="8/255",
    ),
    "trades": Recipe(
        name="trades",
        source="TRADES (Zhang et al. 2019), yaodongyu/TRADES train_trades_cifar10.py (beta 6 for CIFAR-10)",
        epochs=76, batch_size=128,
        lr=0.1, momentum=0.9, weight_decay=2e-4,
        schedule="step", decay_epochs=(74, 89, 99), decay_factor=0.1,
        adversary="trades", eps="0.031", step_size="0.007", steps=10, start="normal", attack_mode="eval",
        trades_beta=6.0, seed=1,
    ),  # fmt: skip
    "fast-at": Recipe(
        name="fast-at",
        source="Fast is better than free (Wong et al. 2020), locuslab/fast_adversarial CIFAR10/train_fgsm.py",
        epochs=15, batch_size=128,
        lr=0.2, momentum=0.9, weight_decay=5e-4,
        schedule="cyclic", lr_min=0.0, per_step=True,
        adversary="fgsm-rs", eps="8/255", step_size="10/255", steps=1, start="uniform", attack_mode="train",
        seed=0, amp=True,
    ),  # fmt: skip
}


def list_recipes() -> list[str]:
    return list(PRESETS)


def get_recipe(recipe: str | Recipe | Mapping[str, Any], **overrides: Any) -> Recipe:
    """A recipe from a preset name, a Recipe or a recipe dict, with ``overrides`` applied."""
    if isinstance(recipe, Recipe):
        return recipe.replace(**overrides) if overrides else recipe
    if isinstance(recipe, Mapping):
        return Recipe.from_dict(recipe).replace(**overrides)
    return Recipe.from_preset(recipe, **overrides)


__all__ = ["Recipe", "PRESETS", "get_recipe", "list_recipes", "member_epochs", "parse_field", "parse_settings"]
