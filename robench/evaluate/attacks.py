"""Attack presets and the adapters that run them.

Every attack is an :class:`AttackConfig` (a named preset with fixed, documented settings, resolved against a
threat model) that expands into one or more *stages*. A stage perturbs one batch; the runner chains stages
pointwise, attacking only the points every earlier stage failed on. Classic attacks are single torchattacks
stages; AutoAttack expands into the reference implementation's own sub-attacks (pyautoattack), configured by
pyautoattack itself for the chosen version and called exactly as its ``run_standard_evaluation`` calls them —
so a robench AutoAttack number equals the reference number point for point.

Seeding follows AutoAttack's convention: the global RNG is reset to the run's seed before every stage call on
a batch, so a batch's result depends only on its content and the seed, never on what ran before it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from robench.data import ThreatModel, parse_eps
from robench.errors import RobenchError


@dataclass(frozen=True)
class Preset:
    """A named attack with the settings a paper used. ``eps`` None means: the threat model's eps."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""


PRESETS: dict[str, Preset] = {
    "fgsm": Preset("fgsm", {}, "FGSM (Goodfellow et al.), one step of size eps"),
    "ffgsm": Preset("ffgsm", {"alpha": 10 / 255}, "F-FGSM (Wong et al.): random start, one step of 10/255"),
    "pgd10": Preset("pgd", {"alpha": 2 / 255, "steps": 10, "random_start": True},
                    "PGD-10, step 2/255, random start (Devaguptapu et al.)"),
    "pgd20": Preset("pgd", {"alpha": 2 / 255, "steps": 20, "random_start": True},
                    "PGD-20, step 2/255, random start (RobNet, ARNAS)"),
    "pgd20-advrush": Preset("pgd", {"alpha": 0.01, "steps": 20, "random_start": True},
                            "PGD-20, step 0.01, random start (AdvRush eval; use with --eps 0.031)"),
    "pgd100": Preset("pgd", {"alpha": 2 / 255, "steps": 100, "random_start": True},
                     "PGD-100, step 2/255, random start (RobNet SVHN, ARNAS)"),
    "pgd": Preset("pgd", {"alpha": 2 / 255, "steps": 10, "random_start": True}, "PGD with custom settings"),
    "mifgsm": Preset("mifgsm", {"alpha": 2 / 255, "steps": 10, "decay": 1.0}, "MI-FGSM (Dong et al.), 10 steps"),
    "deepfool": Preset("deepfool", {"steps": 50, "overshoot": 0.02},
                       "DeepFool (L2, minimum norm); a point counts as broken only inside the eps-ball"),
    "cw": Preset("cw", {"c": 1.0, "kappa": 0.0, "steps": 100, "lr": 0.01},
                 "Carlini-Wagner L2; a point counts as broken only inside the eps-ball"),
    "apgd10x10": Preset("apgd", {"steps": 10, "n_restarts": 10, "loss": "ce"},
                        "AutoPGD-CE, 10 steps, 10 restarts (torchattacks; Devaguptapu et al.)"),
    "apgd-ce": Preset("autoattack", {"version": "custom", "attacks": ["apgd-ce"]},
                      "APGD-CE of AutoAttack (100 iterations, 1 restart)"),
    "square": Preset("autoattack", {"version": "custom", "attacks": ["square"]},
                     "Square attack of AutoAttack (5,000 queries)"),
    "autoattack": Preset("autoattack", {"version": "standard"},
                         "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square (reference pyautoattack)"),
    "autoattack-plus": Preset("autoattack", {"version": "plus"}, "AutoAttack plus (reference pyautoattack)"),
    "autoattack-rand": Preset("autoattack", {"version": "rand"},
                              "AutoAttack rand: APGD-CE, APGD-DLR with EOT 20 (randomised defences)"),
}

_AUTOATTACK_PARTS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
_UNBOUNDED = {"deepfool", "cw"}  # minimum-norm attacks: the runner keeps only perturbations inside the ball
_LINF_ONLY = {"fgsm", "ffgsm", "mifgsm"}


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
        return "pyautoattack" if self.method == "autoattack" else "torchattacks"

    @property
    def bounded(self) -> bool:
        return self.method not in _UNBOUNDED

    def to_record(self) -> dict:
        return {"name": self.name, "library": self.library, "method": self.method,
                "params": {"norm": self.norm, "eps": self.eps, **self.params}}


def list_attacks(pattern: str = "*") -> list[str]:
    return sorted(n for n in PRESETS if fnmatch.fnmatch(n, pattern))


def resolve_attack(spec: str, threat_model: ThreatModel) -> AttackConfig:
    """``pgd20`` or ``pgd:steps=50,alpha=1/255`` or ``autoattack:attacks=apgd-ce+square`` -> AttackConfig."""
    if not isinstance(spec, str):
        raise RobenchError(f"an attack is named by a string, not {type(spec).__name__}", hint="e.g. 'pgd20'")
    name, _, overrides = spec.partition(":")
    name = name.strip().lower()
    if name not in PRESETS:
        raise RobenchError(f"unknown attack {name!r}", hint=f"choose one of: {', '.join(list_attacks())}")
    preset = PRESETS[name]
    params = dict(preset.params)
    for item in filter(None, overrides.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in _ALLOWED_OVERRIDES.get(preset.method, ()):
            allowed = ", ".join(_ALLOWED_OVERRIDES.get(preset.method, ())) or "none"
            raise RobenchError(f"bad setting {item!r} for attack {name}", hint=f"settings it takes: {allowed}")
        params[key.strip()] = _parse_value(key.strip(), value.strip())
    if "attacks" in params:
        parts = params["attacks"]
        unknown = [a for a in parts if a not in _AUTOATTACK_PARTS]
        if unknown or not parts:
            raise RobenchError(f"bad AutoAttack parts {parts}", hint=f"parts: {', '.join(_AUTOATTACK_PARTS)}")
        repeated = sorted({a for a in parts if parts.count(a) > 1})
        if repeated:
            # a part run twice on the same points with the same seed adds nothing, and its two stages would
            # share one name in the records
            raise RobenchError(f"AutoAttack part(s) listed twice: {', '.join(repeated)}", hint="list each part once")
        params["version"] = "custom"
    if preset.method in _LINF_ONLY and threat_model.norm != "Linf":
        raise RobenchError(f"{name} is an Linf attack but the threat model is {threat_model.norm}",
                           hint="use pgd, cw, deepfool or autoattack for L2")
    return AttackConfig(name=spec.strip().lower() if overrides else name, method=preset.method,
                        norm=threat_model.norm, eps=threat_model.eps, params=params)


_ALLOWED_OVERRIDES = {
    "pgd": ("alpha", "steps", "random_start"),
    "ffgsm": ("alpha",),
    "mifgsm": ("alpha", "steps", "decay"),
    "deepfool": ("steps", "overshoot"),
    "cw": ("c", "kappa", "steps", "lr"),
    "apgd": ("steps", "n_restarts", "loss"),
    "autoattack": ("attacks",),
}


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

Stage = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
    attack = _torchattacks_attack(config, model, seed)
    return [NamedStage(config.name, attack)]


def _torchattacks_attack(config: AttackConfig, model: nn.Module, seed: int):
    import torchattacks

    p, eps = config.params, config.eps
    if config.method == "fgsm":
        return torchattacks.FGSM(model, eps=eps)
    if config.method == "ffgsm":
        return torchattacks.FFGSM(model, eps=eps, alpha=p["alpha"])
    if config.method == "pgd" and config.norm == "L2":
        return torchattacks.PGDL2(model, eps=eps, alpha=p["alpha"], steps=p["steps"], random_start=p["random_start"])
    if config.method == "pgd":
        return torchattacks.PGD(model, eps=eps, alpha=p["alpha"], steps=p["steps"], random_start=p["random_start"])
    if config.method == "mifgsm":
        return torchattacks.MIFGSM(model, eps=eps, alpha=p["alpha"], steps=p["steps"], decay=p["decay"])
    if config.method == "deepfool":
        return torchattacks.DeepFool(model, steps=p["steps"], overshoot=p["overshoot"])
    if config.method == "cw":
        return torchattacks.CW(model, c=p["c"], kappa=p["kappa"], steps=p["steps"], lr=p["lr"])
    if config.method == "apgd":
        return torchattacks.APGD(model, norm=config.norm, eps=eps, steps=p["steps"], n_restarts=p["n_restarts"],
                                 loss=p["loss"], seed=seed)
    raise AssertionError(f"no adapter for {config.method}")


def make_autoattack(config: AttackConfig, model: nn.Module, seed: int, device: torch.device):
    """The reference AutoAttack object, configured by pyautoattack itself for the preset's version."""
    from pyautoattack import AutoAttack

    version = config.params["version"]
    attacks = config.params.get("attacks") if version == "custom" else None
    return AutoAttack(model, norm=config.norm, eps=config.eps, seed=seed, version=version, attacks=attacks,
                      device=device)


def _autoattack_stages(config: AttackConfig, model: nn.Module, num_classes: int, seed: int,
                       device: torch.device) -> list[NamedStage]:
    adversary = make_autoattack(config, model, seed, device)
    targets = num_classes - 1
    if adversary.apgd_targeted.n_target_classes > targets or adversary.fab.n_target_classes > targets:
        # AutoAttack would index past the logits; its own check only warns (fra31/auto-attack#110).
        adversary.apgd_targeted.n_target_classes = min(adversary.apgd_targeted.n_target_classes, targets)
        adversary.fab.n_target_classes = min(adversary.fab.n_target_classes, targets)

    def part(attack: str) -> Stage:
        # The same attribute settings as pyautoattack's run_standard_evaluation makes before each perturb call.
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
