"""The settings of an evaluation or a transfer matrix, as one typed object.

``evaluate(model, EvalSettings(attacks=["pgd20"], n_examples=500))`` and ``evaluate(model, attacks=["pgd20"],
n_examples=500)`` are the same call: keyword arguments replace the fields of the settings given (or of the
defaults). Where the model, the data and the output go (``data_dir``, ``device``, ``out``) are arguments of
the call, not settings: they change no number.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from robench.data import ThreatModel
from robench.errors import RobenchError
from robench.evaluate.speed import SpeedOptions


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation measures and how.

    ``attacks`` run in order; with ``chain`` each runs only on the points every earlier attack failed on (a
    transfer matrix takes one attack). ``n_examples`` test images of ``split`` are drawn with ``seed`` (None:
    all). ``threat_model`` and ``eps`` default to the data set's standard budget. ``batch_size`` None measures
    the fastest size. ``checks`` runs the sanity checks on the results; ``speed`` holds the options that can
    change a number (:mod:`robench.evaluate.speed`)."""

    dataset: str = "cifar10"
    attacks: str | Sequence[str] = ("pgd20",)
    n_examples: int | None = None
    seed: int = 0
    split: str = "test"
    threat_model: str | ThreatModel | None = None
    eps: str | float | None = None
    batch_size: int | None = None
    chain: bool = True
    checks: bool = True
    speed: SpeedOptions = field(default_factory=SpeedOptions)

    @classmethod
    def of(cls, settings: EvalSettings | None, fields: dict[str, Any]) -> EvalSettings:
        """``settings`` (default: the defaults) with ``fields`` replaced; an unknown field is an error."""
        if settings is not None and not isinstance(settings, cls):
            raise RobenchError(f"the settings must be an EvalSettings, not {settings!r}",
                               hint="give the others by keyword, e.g. evaluate(model, dataset='cifar10')")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise RobenchError(f"unknown evaluation setting(s): {', '.join(unknown)}",
                               hint=f"the settings are: {', '.join(known)}")  # fmt: skip
        chosen = dataclasses.replace(settings or cls(), **fields)
        return chosen if chosen.speed is not None else dataclasses.replace(chosen, speed=SpeedOptions())
