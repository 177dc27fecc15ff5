"""Attack presets and the adapters that run them.

Every attack is an :class:`AttackConfig` (a named preset with fixed, documented settings, resolved against a
threat model) that expands into one or more *stages*. A stage perturbs one batch; the runner chains stages
pointwise, attacking only the points every earlier stage failed on. Classic attacks are single torchattacks
stages; AutoAttack expands into the reference implementation's own sub-attacks (pyautoattack), configured by
pyautoattack itself for the chosen version and called exactly as its ``run_standard_evaluation`` calls them —
so a robench AutoAttack number equals the reference number point for point.

Seeding follows AutoAttack's convention: the global RNG is reset to the run's seed before every stage call on
a batch, so a batch's result depends only on its content and the seed, never on what ran before it.

The parts run under ``torch.no_grad()``, as inside ``run_standard_evaluation`` (each part enables gradients
where it differentiates), and Square's queries run in inference mode (robench.evaluate.speed): neither changes
a bit of any logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, get_args

import torch
import torchattacks
from pyautoattack import AutoAttack
from pyautoattack.autoattack import AttackName
from torch import nn

from robench.data import ThreatModel, parse_eps
from robench.errors import RobenchError
from robench.evaluate.presets import PRESETS, list_attacks
from robench.evaluate.speed import InferenceForward


Stage = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttackConfig:
    """A preset resolved against a threat model: everything needed to rerun the attack, and nothing else."""

    name: str
    method: str
    norm: str
    eps: float
    params: dict[str, Any]

    @property
    def library(self) -> str:
        return METHODS[self.method].library

    @property
    def bounded(self) -> bool:
        return METHODS[self.method].bounded

    def to_record(self) -> dict:
        return {"name": self.name, "library": self.library, "method": self.method,
                "params": {"norm": self.norm, "eps": self.eps, **self.params}}


@dataclass(frozen=True)
class Method:
    """How one kind of attack runs: the library call that builds a batch attack, the settings a user may change
    (``pgd:steps=50``), the norms it supports, and whether it stays inside the eps-ball by construction (the
    minimum-norm attacks do not: the runner keeps only their perturbations inside the ball)."""

    library: str
    build: Callable[[AttackConfig, nn.Module, int], Stage] | None  # None: several stages (AutoAttack's parts)
    settings: tuple[str, ...] = ()
    norms: tuple[str, ...] = ("Linf", "L2")
    bounded: bool = True


def _pgd(c: AttackConfig, model: nn.Module, seed: int) -> Stage:
    attack = torchattacks.PGDL2 if c.norm == "L2" else torchattacks.PGD
    return attack(model, eps=c.eps, alpha=c.params["alpha"], steps=c.params["steps"],
                  random_start=c.params["random_start"])


METHODS: dict[str, Method] = {
    "fgsm": Method("torchattacks", lambda c, m, s: torchattacks.FGSM(m, eps=c.eps), norms=("Linf",)),
    "ffgsm": Method("torchattacks", lambda c, m, s: torchattacks.FFGSM(m, eps=c.eps, alpha=c.params["alpha"]),
                    ("alpha",), norms=("Linf",)),
    "pgd": Method("torchattacks", _pgd, ("alpha", "steps", "random_start")),
    "mifgsm": Method("torchattacks", lambda c, m, s: torchattacks.MIFGSM(m, eps=c.eps, **c.params),
                     ("alpha", "steps", "decay"), norms=("Linf",)),
    "deepfool": Method("torchattacks", lambda c, m, s: torchattacks.DeepFool(m, **c.params), ("steps", "overshoot"),
                       bounded=False),
    "cw": Method("torchattacks", lambda c, m, s: torchattacks.CW(m, **c.params), ("c", "kappa", "steps", "lr"),
                 bounded=False),
    "apgd": Method("torchattacks", lambda c, m, s: torchattacks.APGD(m, norm=c.norm, eps=c.eps, seed=s, **c.params),
                   ("steps", "n_restarts", "loss")),
    "autoattack": Method("pyautoattack", None, ("attacks",), norms=("Linf", "L2", "L1")),
}

AUTOATTACK_PARTS: tuple[str, ...] = get_args(AttackName)  # pyautoattack's own list of its parts


def autoattack_parts(config: AttackConfig) -> list[str]:
    """The parts an AutoAttack config runs, in order: its list, or what pyautoattack runs for its version."""
    if config.params.get("attacks"):
        return list(config.params["attacks"])
    return list(AutoAttack(nn.Identity(), version=config.params["version"]).attacks_to_run)


def resolve_attack(spec: str, threat_model: ThreatModel) -> AttackConfig:
    """``pgd20`` or ``pgd:steps=50,alpha=1/255`` or ``autoattack:attacks=apgd-ce+square`` -> AttackConfig."""
    if not isinstance(spec, str):
        raise RobenchError(f"an attack is named by a string, not {type(spec).__name__}", hint="e.g. 'pgd20'")
    name, _, overrides = spec.partition(":")
    name = name.strip().lower()
    if name not in PRESETS:
        raise RobenchError(f"unknown attack {name!r}", hint=f"choose one of: {', '.join(list_attacks())}")
    preset = PRESETS[name]
    method = METHODS[preset.method]
    params = dict(preset.params)
    overridden = set()
    for item in filter(None, overrides.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in method.settings:
            raise RobenchError(f"bad setting {item!r} for attack {name}",
                               hint=f"settings it takes: {', '.join(method.settings) or 'none'}")
        params[key.strip()] = _parse_value(key.strip(), value.strip())
        overridden.add(key.strip())
    if "attacks" in params:
        parts = params["attacks"]
        unknown = [a for a in parts if a not in AUTOATTACK_PARTS]
        if unknown or not parts:
            raise RobenchError(f"bad AutoAttack parts {parts}", hint=f"parts: {', '.join(AUTOATTACK_PARTS)}")
        repeated = sorted({a for a in parts if parts.count(a) > 1})
        if repeated:
            # a part run twice on the same points with the same seed adds nothing, and its two stages would
            # share one name in the records
            raise RobenchError(f"AutoAttack part(s) listed twice: {', '.join(repeated)}", hint="list each part once")
    if "attacks" in overridden:  # a list of one's own: pyautoattack's custom version, with its settings
        params["version"] = "custom"
    if threat_model.norm not in method.norms:
        raise RobenchError(f"{name} supports {' and '.join(method.norms)} but the threat model is {threat_model.norm}",
                           hint="use pgd, cw, deepfool or autoattack for L2")
    return AttackConfig(name=spec.strip().lower() if overrides else name, method=preset.method,
                        norm=threat_model.norm, eps=threat_model.eps, params=params)


def _parse_value(key: str, value: str) -> Any:
    if key == "attacks":
        return [a.strip() for a in value.split("+") if a.strip()]
    if key == "loss":
        return value
    if key == "random_start":
        if value.lower() not in ("true", "false", "1", "0"):
            raise RobenchError(f"random_start must be true or false, not {value!r}", hint="random_start=true")
        return value.lower() in ("true", "1")
    if key in ("steps", "n_restarts"):
        if not value.isdigit() or int(value) < 1:
            raise RobenchError(f"{key} must be a positive whole number, not {value!r}", hint=f"e.g. {key}=20")
        return int(value)
    return parse_eps(value, what=key)


# ---- stages ----------------------------------------------------------------------------------------------


@dataclass
class NamedStage:
    name: str
    run: Stage
    white_box: bool = True


def build_stages(config: AttackConfig, model: nn.Module, num_classes: int, seed: int,
                 device: torch.device) -> list[NamedStage]:
    """The batch-level callables of one attack, in the order they run."""
    if config.method == "autoattack":
        return _autoattack_stages(config, model, num_classes, seed, device)
    return [NamedStage(config.name, METHODS[config.method].build(config, model, seed))]


def make_autoattack(config: AttackConfig, model: nn.Module, seed: int, device: torch.device):
    """The reference AutoAttack object, configured by pyautoattack itself for the preset's version. A version
    with a list of parts runs those parts with that version's settings, as pyautoattack's
    ``run_standard_evaluation_individual`` does (the ``apgd-ce`` preset is standard AutoAttack's APGD-CE: one
    restart, where the custom version's APGD makes five)."""
    version, parts = config.params["version"], config.params.get("attacks")
    adversary = AutoAttack(model, norm=config.norm, eps=config.eps, seed=seed, version=version,
                           attacks=parts if version == "custom" else None, device=device)
    if parts and version != "custom":
        adversary.attacks_to_run = list(parts)
    return adversary


def _autoattack_stages(config: AttackConfig, model: nn.Module, num_classes: int, seed: int,
                       device: torch.device) -> list[NamedStage]:
    adversary = make_autoattack(config, model, seed, device)
    targets = num_classes - 1
    if adversary.apgd_targeted.n_target_classes > targets or adversary.fab.n_target_classes > targets:
        # AutoAttack would index past the logits; its own check only warns (fra31/auto-attack#110).
        adversary.apgd_targeted.n_target_classes = min(adversary.apgd_targeted.n_target_classes, targets)
        adversary.fab.n_target_classes = min(adversary.fab.n_target_classes, targets)
    adversary.square.predict = InferenceForward(model)

    def part(attack: str) -> Stage:
        # The same attribute settings as pyautoattack's run_standard_evaluation makes before each perturb call.
        @torch.no_grad()
        def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if attack in ("apgd-ce", "apgd-dlr"):
                adversary.apgd.loss = "ce" if attack == "apgd-ce" else "dlr"
                adversary.apgd.seed = seed
                return adversary.apgd.perturb(x, y)
            if attack in ("fab", "fab-t"):
                adversary.fab.targeted = attack == "fab-t"
                if attack == "fab-t":
                    adversary.fab.n_restarts = 1
                adversary.fab.seed = seed
                return adversary.fab.perturb(x, y)
            if attack == "square":
                adversary.square.seed = seed
                return adversary.square.perturb(x, y)
            adversary.apgd_targeted.seed = seed
            return adversary.apgd_targeted.perturb(x, y)

        return run

    return [NamedStage(f"{config.name}/{a}", part(a), white_box=a != "square") for a in adversary.attacks_to_run]


def autoattack_settings(config: AttackConfig, model: nn.Module, device: torch.device) -> dict:
    """The effective settings of each AutoAttack part, read back from pyautoattack (for records and tests)."""
    adversary = make_autoattack(config, model, 0, device)
    return {
        "attacks": list(adversary.attacks_to_run),
        "apgd": {"n_iter": adversary.apgd.n_iter, "n_restarts": adversary.apgd.n_restarts,
                 "eot_iter": adversary.apgd.eot_iter, "rho": adversary.apgd.thr_decr},
        "apgd-t": {"n_iter": adversary.apgd_targeted.n_iter, "n_restarts": adversary.apgd_targeted.n_restarts,
                   "n_target_classes": adversary.apgd_targeted.n_target_classes},
        "fab": {"n_iter": adversary.fab.n_iter, "n_target_classes": adversary.fab.n_target_classes},
        "square": {"n_queries": adversary.square.n_queries, "p_init": adversary.square.p_init},
    }
