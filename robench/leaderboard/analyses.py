"""Analyses the leaderboard links: ``analyses/<model>/<analysis>.json`` and its ``.png`` next to the rendered
files, as ``robench analyze landscape|curvature|fsp MODEL --out leaderboard/analyses/<model>`` writes them. A
measured row links the analyses made of the same weights (the same ``weights_sha256``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SCHEMA_ID = "robench.analysis/1"
FOLDER = "analyses"


@dataclass(frozen=True)
class LinkedAnalysis:
    """One analysis file of a model, with its paths relative to the leaderboard folder."""

    name: str
    weights_sha256: str
    json_path: str
    plot: str


def find_analyses(out_dir: str | Path) -> tuple[dict[str, list[LinkedAnalysis]], list[str]]:
    """The analyses under ``out_dir/analyses`` by the weights they analyse, in name order, and one problem line
    per file that is not an analysis of a model's weights with its plot beside it."""
    root = Path(out_dir)
    found: dict[str, list[LinkedAnalysis]] = {}
    problems = []
    for file in sorted((root / FOLDER).glob("*/*.json")):
        rel = file.relative_to(root).as_posix()
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
            name, sha, plot = record["analysis"], record["model"]["weights_sha256"], record["plot"]
            if record["schema"] != SCHEMA_ID or not all(isinstance(v, str) for v in (name, sha, plot)):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            problems.append(f"{rel} is not a model analysis (schema {SCHEMA_ID} with model.weights_sha256 and plot)")
            continue
        plot_path = file.parent / plot
        if not plot_path.is_file():
            problems.append(f"{rel} names the plot {plot}, which is not beside it")
            continue
        found.setdefault(sha, []).append(
            LinkedAnalysis(name, sha, rel, plot_path.relative_to(root).as_posix()))
    return found, problems
