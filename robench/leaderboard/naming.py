"""Names and labels shared by the record store and the renderers: data sets, threat models, suites (attack
names and labels are robench.evaluate.presets')

A threat model's key uses ``k/255`` when its eps is within half a unit of the third decimal of ``k/255``:
papers write 8/255 as 0.031 (AdvRush), and numbers at the same budget belong in the same table. Each record
keeps the eps it states, and the rendered row shows it when it differs from the table's.
"""

from __future__ import annotations

import re

from robench.data import DATASETS
from robench.evaluate.presets import attack_order

_EPS_TOLERANCE = 5e-4  # half of the last decimal in "0.031"


def slug(text: str) -> str:
    """A file-name-safe form of ``text``: lower case, runs of other characters become one hyphen."""
    return re.sub(r"[^a-z0-9.+_-]+", "-", text.lower()).strip("-") or "unnamed"


def dataset_label(name: str) -> str:
    return DATASETS[name].label if name in DATASETS else name


def dataset_order(name: str) -> tuple[int, str]:
    return (list(DATASETS).index(name) if name in DATASETS else len(DATASETS), name)


def _on_grid(eps: float) -> int | None:
    k = round(eps * 255)
    return k if k >= 1 and abs(eps - k / 255) < _EPS_TOLERANCE else None


def eps_label(eps: float) -> str:
    """``8/255`` for budgets on the 1/255 grid (to the precision papers write them), else the number."""
    k = _on_grid(eps)
    return f"{k}/255" if k else f"{eps:g}"


def label_rounds(eps: float) -> bool:
    """Whether :func:`eps_label` shows a budget other than ``eps`` itself (0.031 shown as 8/255)."""
    k = _on_grid(eps)
    return k is not None and abs(eps - k / 255) > 1e-12


def threat_key(threat_model: dict) -> str:
    """The file-name key of a threat model, e.g. ``linf-8-255``, ``l2-0.5``, ``none``."""
    if threat_model["norm"] == "none":
        return "none"
    return slug(f"{threat_model['norm']}-{eps_label(threat_model['eps']).replace('/', '-')}")


def threat_label(threat_model: dict) -> str:
    if threat_model["norm"] == "none":
        return "no attack"
    return f"{threat_model['norm']}, ε = {eps_label(threat_model['eps'])}"


def threat_order(threat_model: dict) -> tuple[str, float]:
    k = _on_grid(threat_model["eps"])
    return (threat_model["norm"], k / 255 if k else float(threat_model["eps"]))


def suite_name(record: dict) -> str:
    """The attack suite of a result record: its attacks in the order they ran, joined by ``+``."""
    names = [a["name"] for a in record.get("attacks", [])]
    if not names:
        names = sorted(record["metrics"].get("per_attack", {}), key=attack_order)
    return "+".join(slug(n) for n in names) or "clean"
