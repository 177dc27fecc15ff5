"""The attack presets: everything robench knows about a named attack, in one table that imports without torch
(the leaderboard and the command line read it too).

A preset names a *method* (how the attack runs: robench.evaluate.attacks.METHODS) and the settings a paper used.
Adding an attack is one entry here, and one entry in METHODS if its method is new.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """A named attack with the settings a paper used. The threat model supplies eps."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    label: str | None = None  # its leaderboard column (default: the preset's name)
    stronger_than: tuple[str, ...] = ()  # presets it must never leave more points robust than, run on their own
    single_step: bool = False
    autoattack_suite: bool = False  # a whole AutoAttack version: the number the leaderboard ranks by


# In the leaderboard's column order.
PRESETS: dict[str, Preset] = {
    "fgsm": Preset("fgsm", {}, "FGSM (Goodfellow et al.), one step of size eps", "FGSM", single_step=True),
    "ffgsm": Preset("ffgsm", {"alpha": 10 / 255}, "F-FGSM (Wong et al.): random start, one step of 10/255",
                    "F-FGSM", single_step=True),
    "mifgsm": Preset("mifgsm", {"alpha": 2 / 255, "steps": 10, "decay": 1.0}, "MI-FGSM (Dong et al.), 10 steps",
                     "MI-FGSM"),
    "pgd10": Preset("pgd", {"alpha": 2 / 255, "steps": 10, "random_start": True},
                    "PGD-10, step 2/255, random start (Devaguptapu et al.)", "PGD-10", ("fgsm",)),
    "pgd20": Preset("pgd", {"alpha": 2 / 255, "steps": 20, "random_start": True},
                    "PGD-20, step 2/255, random start (RobNet, ARNAS)", "PGD-20", ("fgsm", "pgd10")),
    "pgd20-advrush": Preset("pgd", {"alpha": 0.01, "steps": 20, "random_start": True},
                            "PGD-20, step 0.01, random start (AdvRush eval; use with --eps 0.031)", "PGD-20 (AdvRush)"),
    "pgd100": Preset("pgd", {"alpha": 2 / 255, "steps": 100, "random_start": True},
                     "PGD-100, step 2/255, random start (RobNet SVHN, ARNAS)", "PGD-100", ("fgsm", "pgd20")),
    "pgd": Preset("pgd", {"alpha": 2 / 255, "steps": 10, "random_start": True}, "PGD with custom settings"),
    "deepfool": Preset("deepfool", {"steps": 50, "overshoot": 0.02},
                       "DeepFool (L2, minimum norm); a point counts as broken only inside the eps-ball", "DeepFool"),
    "cw": Preset("cw", {"c": 1.0, "kappa": 0.0, "steps": 100, "lr": 0.01},
                 "Carlini-Wagner L2; a point counts as broken only inside the eps-ball", "C&W"),
    "apgd-ce": Preset("autoattack", {"version": "standard", "attacks": ["apgd-ce"]},
                      "APGD-CE of AutoAttack standard (100 iterations, 1 restart)", "APGD-CE"),
    "apgd10x10": Preset("apgd", {"steps": 10, "n_restarts": 10, "loss": "ce"},
                        "AutoPGD-CE, 10 steps, 10 restarts (torchattacks; Devaguptapu et al.)", "APGD-10x10"),
    "square": Preset("autoattack", {"version": "standard", "attacks": ["square"]},
                     "Square attack of AutoAttack standard (5,000 queries)", "Square"),
    "autoattack": Preset("autoattack", {"version": "standard"},
                         "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square (reference pyautoattack)", "AA",
                         ("fgsm", "pgd20", "pgd100", "apgd-ce"), autoattack_suite=True),
    "autoattack-plus": Preset("autoattack", {"version": "plus"}, "AutoAttack plus (reference pyautoattack)", "AA+",
                              autoattack_suite=True),
    "autoattack-rand": Preset("autoattack", {"version": "rand"},
                              "AutoAttack rand: APGD-CE, APGD-DLR with EOT 20 (randomised defences)", "AA-rand",
                              autoattack_suite=True),
}


def list_attacks(pattern: str = "*") -> list[str]:
    return sorted(n for n in PRESETS if fnmatch.fnmatch(n, pattern))


def attack_label(name: str) -> str:
    """The display name of an attack (a paper's attack robench has no preset for is shown as it is named)."""
    preset = PRESETS.get(name)
    return preset.label or name if preset else name


def attack_order(name: str) -> tuple[int, str]:
    """Presets in table order, then other names alphabetically."""
    return (list(PRESETS).index(name) if name in PRESETS else len(PRESETS), name)


def is_autoattack(name: str) -> bool:
    preset = PRESETS.get(name)
    return preset.autoattack_suite if preset else name.startswith("autoattack-")


def is_single_step(name: str) -> bool:
    preset = PRESETS.get(name)
    return preset is not None and preset.single_step


def strength_pairs() -> list[tuple[str, str]]:
    """(weaker, stronger) preset pairs: run on the same points, the stronger never leaves more of them robust."""
    return [(weaker, name) for name, preset in PRESETS.items() for weaker in preset.stronger_than]
